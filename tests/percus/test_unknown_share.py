"""The unknown_share figure: events posted with share tokens naming shares or channels the platform
never published are accepted at ingest, curated, counted by the compactor once (whatever is
delivered or compacted again) and shown by `percus org show`. The embedded default: the gateway in
process, the raw writer, the compactor, and the commands as a user types them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.middleware.rate_limit import RateLimits
from gateway.tokens import issue_token
from pipeline.config import load_settings
from pipeline.curated.compactor import compact
from pipeline.layout import parse_raw_key, raw_key
from pipeline.queue.local import LocalQueue
from pipeline.raw.writer import drain_batch
from pipeline.store.local import LocalStore
from tests.gateway._events import event
from tests.percus._cli import run

EVENTS = "/analytics/v1/events"


def published(type_: str, **fields: str) -> str:
    return json.dumps({"event_id": str(uuid.uuid4()), "type": type_, "occurred_at": "2026-11-20T10:00:00Z",
                       "organization_id": "acme", "project_id": "p1", **fields})


def shown(capsys: pytest.CaptureFixture[str]) -> str:
    code, out, _ = run(capsys, "org", "show", "acme")
    assert code == 0
    [line] = [line for line in out.splitlines() if line.startswith("unknown_share")]
    return line


def test_events_of_unknown_shares_are_kept_and_counted_once(data_dir: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "org", "create", "acme")[0] == 0
    replay = data_dir.parent / "platform.jsonl"
    replay.write_text("\n".join([
        published("DistributionChannelPublished", distribution_channel_id="ch-mail", kind="email"),
        published("PublicVideoShareCreated", distribution_channel_id="ch-mail", public_share_id="sh-1")]))
    assert run(capsys, "platform", "replay", str(replay))[0] == 0
    assert shown(capsys) == ("unknown_share (last 7 days): 0 events whose share token names a share or "
                             "channel the platform has not published")

    settings, store = load_settings(), LocalStore(data_dir / "bucket")
    queue = LocalQueue(data_dir / "queue")
    with TestClient(create_app(settings, queue, rate_limits=RateLimits())) as client:
        def post(count: int, **claims: str) -> None:
            token = issue_token(settings.token_keys, "acme", "p1", **claims)
            answer = client.post(EVENTS, json={"events": [event("session.started") for _ in range(count)]},
                                 headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 202 and answer.json()["accepted"] == count, answer.text

        post(2, public_share_id="sh-1", distribution_channel_id="ch-mail")  # known
        post(3, public_share_id="sh-404", distribution_channel_id="ch-mail")  # a share never published
        post(1, public_share_id="sh-1", distribution_channel_id="ch-sms")  # a channel never published
        post(1)  # a token naming no share: nothing to check
        while drain_batch(queue, store, max_wait=0).received:
            pass
    queue.close()
    written = {key: store.get(key) for key in store.list("raw/")}
    assert compact(store).events_in == 7  # accepted and curated, every one
    assert shown(capsys).startswith("unknown_share (last 7 days): 4 events")

    for key, data in written.items():  # delivered again in another batch: duplicates, not new events
        parsed = parse_raw_key(key)
        assert parsed is not None
        store.put(raw_key(parsed[0], parsed[1], uuid.uuid4().hex), data)
    report = compact(store)
    assert (report.events_in, report.duplicates_dropped) == (7, 7)
    compact(store)
    assert shown(capsys).startswith("unknown_share (last 7 days): 4 events")
