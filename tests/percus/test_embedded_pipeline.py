"""The embedded default end to end, as a user runs it: the known posts of tests/_known_posts.py sent
over HTTP to a real `percus serve`, with a resent duplicate, events arriving after a first
compaction (late), a resend of an already-compacted event and a corrupt raw object; then
`percus compact` and `percus report summary --format json` give exact values."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from pipeline.layout import raw_key
from pipeline.store.local import LocalStore
from tests._known_posts import EXPECTED, UNIQUE_EVENTS, known_posts
from tests.percus.test_serve import PERCUS
from tests.reliability._serve import Server, serving

pytestmark = pytest.mark.slow


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "PERCUS_DATA_DIR": str(data_dir)}


def _percus(data_dir: Path, *args: str) -> str:
    return subprocess.run([*PERCUS, *args], env=_env(data_dir), check=True, capture_output=True,
                          text=True, timeout=120).stdout


def _post(base: str, token: str, user_agent: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    answer = httpx.post(f"{base}/analytics/v1/events", json={"events": events}, timeout=10,
                        headers={"Authorization": f"Bearer {token}", "User-Agent": user_agent,
                                 "CloudFront-Viewer-Country": "CL"})
    assert answer.status_code == 202, answer.text
    result: dict[str, Any] = answer.json()
    assert result["rejected"] == [], result
    return result


def _stop(server: Server) -> None:
    # SIGTERM flushes the writer: every accepted event is in raw/; uvicorn re-raises it once shut down.
    assert server.stop() in (0, -signal.SIGTERM)


def test_posted_sessions_give_exact_metrics_through_duplicates_late_events_and_corruption(
        tmp_path: Path) -> None:
    _percus(tmp_path, "org", "create", "acme")
    token = _percus(tmp_path, "token", "issue", "--org", "acme", "--project", "p1").strip()
    posts = known_posts()
    assert posts.resent is not None and posts.failing_session is not None

    with serving(tmp_path) as server:
        for user_agent, batch in posts.first:
            _post(server.base, token, user_agent, batch)
        assert _post(server.base, token, *posts.resent)["duplicates"] == 1  # a client's retry
        _stop(server)

    store = LocalStore(tmp_path / "bucket")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    corrupt = raw_key("acme", hour, str(uuid.uuid4()))
    line = json.dumps(posts.failing_session.event(5, "video.played", position_ms=0)).encode() + b"\n"
    store.put(corrupt, gzip.compress(line)[:-9])  # truncated: the stream ends inside its only line
    first = _percus(tmp_path, "compact")
    assert f"quarantined: {corrupt}\n" in first and "events: 19, duplicates dropped: 0," in first

    # After the first compaction: the late click, and a resend of an event already compacted (the
    # restarted gateway no longer remembers it; the compactor must drop it).
    with serving(tmp_path) as server:
        for user_agent, batch in posts.late:
            assert _post(server.base, token, user_agent, batch)["accepted"] == 2
        _stop(server)
    second = _percus(tmp_path, "compact")
    assert "events: 2, duplicates dropped: 1," in second and "quarantined: 0" in second

    summary = json.loads(_percus(tmp_path, "report", "summary", "--org", "acme", "--format", "json"))
    assert {key: summary[key] for key in EXPECTED} == EXPECTED
    curated = [row for key in store.list("curated/org=acme/")
               for row in pq.read_table(io.BytesIO(store.get(key))).to_pylist()]
    assert len(curated) == len({row["event_id"] for row in curated}) == UNIQUE_EVENTS
    assert {row["session_id"] for row in curated if row["device_is_bot"]} == {posts.bot_session}
