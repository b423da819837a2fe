"""POST /analytics/v1/viewers/lookup: each client-side hash answered with its engagement, echoed as
sent; another organization's key sees nothing; audited by count; no hash stored or logged; at most
10 lookups a minute per key."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import viewers_api
from gateway.shared.buckets import SharedBuckets
from pipeline.governance import audit
from tests.gateway._reporting import OutcomesApp, another_worker, open_outcomes
from tests.pipeline._outcomes import client

PATH = "/analytics/v1/viewers/lookup"


class Served(OutcomesApp):
    def post(self, key: str, hashes: Any, **params: str) -> httpx.Response:
        return self.client.post(PATH, json={"viewer_hashes": hashes}, params=params,
                                headers={"Authorization": f"Bearer {key}"})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with open_outcomes(tmp_path_factory.mktemp("viewers-lookup"), Served) as app:
        yield app


@pytest.fixture(autouse=True)
def minutes_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each lookup a minute after the one before, so the tests never meet the rate limit by chance."""
    ticks = itertools.count(step=60)
    monkeypatch.setattr(viewers_api, "clock", lambda: float(next(ticks)))


def test_each_hash_is_answered_with_its_engagement_beside_it(served: Served) -> None:
    sent = [client(1).upper(), client(4), client(7), client(8), "nope", client(4)]
    response = served.post(served.acme, sent)
    assert response.status_code == 200
    body = response.json()
    assert body["rejected"] == [{"index": 4, "error": {
        "code": "invalid_field", "message": "a viewer hash is 64 hexadecimal characters (the SDK's SHA-256)",
        "field": "viewer_hashes.4"}}]
    one, four, seven, bot = body["viewers"]
    assert one == {"viewer_hash": client(1).upper(), "sessions": 1, "first_seen": "2026-11-24T10:00:00.000Z",
                   "last_seen": "2026-11-24T10:00:00.000Z", "furthest_percent": 100.0, "completed": True,
                   "ctas_clicked": {"Buy now": 1}, "watched": None, "watched_again": None, "projects": [{
                       "project_id": "p1", "project_name": "Renewals", "sessions": 1,
                       "first_seen": "2026-11-24T10:00:00.000Z",
                       "last_seen": "2026-11-24T10:00:00.000Z", "furthest_percent": 100.0, "completed": True,
                       "ctas_clicked": {"Buy now": 1}, "watched": None, "watched_again": None}]}
    assert (four["sessions"], four["first_seen"], four["last_seen"]) == (
        2, "2026-11-24T11:00:00.000Z", "2026-11-25T08:00:00.000Z")
    assert (four["furthest_percent"], four["completed"]) == (100.0, True)
    assert four["ctas_clicked"] == {"Call me": 1}
    for never in (seven, bot):  # only in the audience; a bot's sessions are not engagement
        assert (never["sessions"], never["projects"], never["first_seen"]) == (0, [], None)


def test_another_organizations_key_sees_only_its_own(served: Served) -> None:
    refused = served.post(served.globex, [client(1)], organization_id="acme")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "organization_forbidden")
    (own,) = served.post(served.globex, [client(1), client(4)]).json()["viewers"][:1]
    assert own["sessions"] == 1  # globex's session of the same person, not acme's
    assert served.post(served.globex, [client(4)]).json()["viewers"][0]["sessions"] == 0


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"hashes": []}, 400, "missing_field"),
    ({"viewer_hashes": []}, 400, "invalid_batch"),
    ({"viewer_hashes": "x"}, 400, "invalid_batch"),
    ({"viewer_hashes": [client(1)] * 10_001}, 413, "too_many_hashes"),
])
def test_a_bad_request_is_a_clear_error(served: Served, body: Any, status: int, code: str) -> None:
    response = served.client.post(PATH, json=body, headers={"Authorization": f"Bearer {served.acme}"})
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert served.post("pk_nope", [client(1)]).status_code == 401


def test_audited_by_count_and_no_hash_reaches_a_byte_or_a_log(served: Served,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sent = [client(n) for n in range(1, 10)]
    assert served.post(served.acme, sent).status_code == 200
    records = list(audit.list_records(served.store, org="acme", action="viewers"))
    assert records[-1]["details"] == {"hashes": 9, "found": 6, "rejected": 0}  # V1-V5 and V9
    stored = b"".join(path.read_bytes() for path in served.root.rglob("*") if path.is_file())
    for value in sent:
        assert value.encode() not in stored and value not in caplog.text


def test_at_most_ten_lookups_a_minute_per_key(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(viewers_api, "clock", lambda: 10**9)  # the clock stands still
    answers = [served.post(served.acme, [client(1)]).status_code for _ in range(11)]
    assert answers == [200] * 10 + [429]
    refused = served.post(served.acme, [client(1)])
    assert refused.json()["error"]["code"] == "rate_limited" and refused.headers["Retry-After"] == "6"
    assert served.post(served.globex, [client(1)]).status_code == 200  # another key, its own bucket


def test_the_limit_counts_the_lookups_of_every_worker_process(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(viewers_api, "clock", lambda: 10**9)  # the clock stands still
    run = tmp_path / "run"
    run.mkdir()
    salt = SharedBuckets.create(run)  # two attachments lock each other out as two processes do
    with open_outcomes(tmp_path / "outcomes", Served, SharedBuckets.attach(run, salt)) as first, \
            another_worker(first, SharedBuckets.attach(run, salt)) as second:
        answers = [(first, second)[n % 2].post(first.acme, [client(1)]).status_code for n in range(11)]
        assert answers == [200] * 10 + [429]
        assert first.post(first.acme, [client(1)]).status_code == 429
