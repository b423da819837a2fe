"""`percus dsar delete` over a real data dir: once it reports done, no file under the data dir holds a
byte of the viewer's events (queue segments, waiting records, dead letters, raw, quarantine, curated,
rollups, exports), whether `percus serve` runs beside it or not, and the other viewers' events are
all still there."""

from __future__ import annotations

import signal
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.middleware.rate_limit import RateLimits
from gateway.tokens import issue_token
from pipeline.config import load_settings
from pipeline.curated.compactor import compact
from pipeline.governance.viewer_keys import load_viewer_keys
from pipeline.layout import raw_key
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.queue.local import LocalQueue
from pipeline.raw import rawfile
from pipeline.raw.writer import drain_batch
from pipeline.reporting.exports import create_export
from pipeline.reporting.rollups import build_rollups
from pipeline.reporting.selection import Selection
from pipeline.store.local import LocalStore
from tests.percus._cli import run
from tests.reliability import _serve

EVENTS = "/analytics/v1/events"


@dataclass
class Viewer:
    """A viewer's client hash, and what its events carry that only they do."""

    client_hash: str
    text: str  # free text typed by the viewer
    sessions: list[str] = field(default_factory=list)

    def session(self) -> list[dict[str, Any]]:
        """The events of a new page load: a session, a CTA with free text, an error."""
        session = str(uuid.uuid4())
        self.sessions.append(session)
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        common = {"schema_version": "1", "occurred_at": now, "session_id": session,
                  "viewer_hash": self.client_hash, "playback_id": 1, "template_id": "t1",
                  "consent": {"tracking": True}}
        return [{**common, "event_id": str(uuid.uuid4()), "event_type": event_type, "payload": payload}
                for event_type, payload in [
                    ("session.started", {}),
                    ("cta.clicked", {"cta_id": "contact", "cta_value": self.text}),
                    ("video.errored", {"error_code": "MEDIA_ERR_NETWORK", "error_message": self.text})]]

    def needles(self, data_dir: Path) -> list[str]:
        """Every trace of the viewer: its stored (keyed) id, its sessions, its text."""
        return [load_viewer_keys({}, data_dir=data_dir).keyed(self.client_hash), *self.sessions, self.text]


def everything(data_dir: Path) -> str:
    """Every byte of every file under the data dir, as text: gzip members also inflated, Parquet
    files also read row by row."""
    parts = []
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        parts.append(data)
        if data.startswith(b"\x1f\x8b"):
            parts.append(rawfile.inflate(data)[0])
        if data.startswith(b"PAR1"):
            parts.append(repr(pq.ParquetFile(path).read().to_pylist()).encode())
    return b"\n".join(parts).decode(errors="replace")


def left(viewer: Viewer, data_dir: Path) -> list[str]:
    text = everything(data_dir)
    return [needle for needle in viewer.needles(data_dir) if needle in text]


def batch(*viewers: Viewer) -> dict[str, Any]:
    """A POST body with a new session of each viewer."""
    return {"events": [event for viewer in viewers for event in viewer.session()]}


def drain(queue: LocalQueue, store: LocalStore) -> None:
    while drain_batch(queue, store, max_wait=0).received:
        pass


def test_no_byte_of_the_viewer_is_left_wherever_its_events_were(data_dir: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings()
    store = LocalStore(data_dir / "bucket")
    forgotten = Viewer("5eed" * 16, "Call me on +56 9 8765 4321, Maria")
    others = [Viewer("c0de" * 16, "Another viewer's note"), Viewer("beef" * 16, "A third viewer's note")]
    queue = LocalQueue(data_dir / "queue", visibility_timeout=0.1, max_receives=1)
    auth = {"Authorization": f"Bearer {issue_token(settings.token_keys, 'acme', 'p1')}"}
    with TestClient(create_app(settings, queue, rate_limits=RateLimits())) as client:
        def post() -> None:
            response = client.post(EVENTS, json=batch(forgotten, *others), headers=auth)
            assert response.status_code == 202, response.text

        post()  # received twice without a delete: dead letters
        queue.receive(100, 0)
        time.sleep(0.15)
        assert queue.receive(100, 0) == [] and len(queue.dead_letters()) == 9
        post()  # written, compacted, rolled up, exported
        drain(queue, store)
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        lines = [rawfile.inflate(store.get(key))[0] for key in store.list("raw/")]
        store.put(raw_key("acme", hour, "mixed"), rawfile.encode([*lines, b"not an event"]))  # quarantined
        compact(store)
        build_rollups(store, day=hour.date(), org="acme")
        engine = DuckDbEngine(store)
        create_export(store, engine, "acme", Selection(), actor="test")
        engine.close()
        post()  # written, not compacted yet
        drain(queue, store)
        post()  # consumed by nobody yet
    queue.close()
    assert set(store.list("quarantine/")) and set(store.list("exports/")) and set(store.list("rollups/"))
    assert left(forgotten, data_dir) == forgotten.needles(data_dir)

    code, out, _ = run(capsys, "dsar", "delete", "--org", "acme", "--viewer-hash", forgotten.client_hash)

    assert code == 0
    assert left(forgotten, data_dir) == []
    for viewer in others:
        assert left(viewer, data_dir) == viewer.needles(data_dir)
    assert ("queue: 3 records, 3 dead letters and 0 corrupt files of the viewer removed; drained the "
            "queue, writing 6 other events to raw") in out


@pytest.mark.slow
def test_beside_percus_serve_it_has_the_server_clear_its_queue(data_dir: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PERCUS_VIEWER_KEYS", raising=False)  # the server's key, from the data dir
    forgotten, other = Viewer("5eed" * 16, "Maria's note"), Viewer("c0de" * 16, "Another viewer's note")
    with _serve.serving(data_dir, tmp_path / "serve.log") as server:
        auth = {"Authorization": f"Bearer {_serve.token(data_dir)}"}
        for _ in range(3):
            response = httpx.post(f"{server.base}{EVENTS}", json=batch(forgotten, other), headers=auth)
            assert response.status_code == 202, response.text
        store = _serve.local_store(data_dir)
        deadline = time.monotonic() + 30
        while len(list(_serve.raw_events(store))) < 18:  # the writer consumed them all
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.2)
        segments = b"".join(path.read_bytes() for path in (data_dir / "queue").glob("*.seg"))
        assert forgotten.text.encode() in segments  # consumed, but still in its segment, which rolls hourly

        code, out, _ = run(capsys, "dsar", "delete", "--org", "acme", "--viewer-hash", forgotten.client_hash)

        assert code == 0
        assert left(forgotten, data_dir) == []
        assert left(other, data_dir) == other.needles(data_dir)
        writer = (data_dir / "queue" / "lock").read_text().strip()  # serve's writer process holds it
        assert Path(f"/proc/{writer}/stat").read_text().split()[3] == str(server.proc.pid)  # its parent
        assert f"percus serve's writer (pid {writer}) carried it out" in out
        assert server.stop() in (0, -signal.SIGTERM), server.output()
    assert left(forgotten, data_dir) == []
