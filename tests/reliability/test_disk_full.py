"""Disk full on the embedded default, for real: `percus serve` on a small tmpfs that a filler fills.

The gateway must answer 503 with Retry-After and the JSON error while the disk is full, say it is
not ready, take events again once space is back, and leave a queue that delivers every event it
answered 202 for, and nothing it refused.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability._serve import (
    EVENTS,
    compact,
    curated_ids,
    event,
    local_store,
    raw_events,
    serving,
    token,
)

pytestmark = pytest.mark.slow

BATCH = 20  # events per request: about 6 KB


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and mount rights): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(path: Path) -> int:
    """Write `path` until the filesystem refuses another byte; its size."""
    written = 0
    with open(path, "wb", buffering=0) as handle:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    written += handle.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return written


def test_a_full_disk_is_a_503_and_the_gateway_recovers_without_loss(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "16m") as disk:
        data_dir = disk / "data"
        share = token(data_dir)
        acknowledged: set[str] = set()
        refused: set[str] = set()
        with serving(data_dir, tmp_path / "serve.log") as server, \
                httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {share}"}) as client:

            def post() -> httpx.Response:
                events = [event(position_ms=i) for i in range(BATCH)]
                answer = client.post(EVENTS, json={"events": events})
                ids = {str(e["event_id"]) for e in events}
                if answer.status_code == 202:
                    assert answer.json()["accepted"] == BATCH
                    acknowledged.update(ids)
                else:
                    refused.update(ids)
                return answer

            for _ in range(10):
                assert post().status_code == 202
            filler = disk / "filler"
            fill(filler)
            # The last page of the queue's segment may still hold a few appends.
            for _ in range(200):
                answer = post()
                if answer.status_code != 202:
                    break
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"].isdigit()
            assert answer.json()["error"]["code"] == "queue_unavailable"
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["error"]["code"] == "queue_unavailable"
            assert client.get("/healthz").status_code == 200  # alive, only not ready
            for _ in range(3):  # still full: still refused, never a 5xx other than 503
                assert post().status_code == 503

            filler.unlink()  # space comes back
            deadline = time.monotonic() + 30
            while post().status_code != 202:
                assert time.monotonic() < deadline, "the gateway did not recover in 30 s"
                time.sleep(0.2)
            for _ in range(10):
                assert post().status_code == 202
            while client.get("/readyz").status_code != 200:  # ready again once sends succeed
                assert time.monotonic() < deadline, "not ready again"
                time.sleep(0.2)
            assert server.stop() in (0, -signal.SIGTERM), server.output()

        assert list((data_dir / "queue").glob("corrupt-*")) == []  # nothing set aside as damaged
        store = local_store(data_dir)
        raw = [str(e["event_id"]) for e in raw_events(store)]
        assert set(raw) == acknowledged  # every 202 written, nothing that was refused
        compact(data_dir)
        ids = curated_ids(store, "acme")
        assert sorted(ids) == sorted(acknowledged)
        assert refused and not refused & set(ids)
        assert "Traceback" not in server.output(), server.output()
