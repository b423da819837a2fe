"""A real `percus serve` for the reliability tests, and how they read back what it stored."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq

from gateway.tokens import issue_token
from pipeline.config import load_settings
from pipeline.raw.rawfile import decode
from pipeline.store.base import Store
from pipeline.store.local import LocalStore
from tests.conftest import REPO, free_port

PERCUS = [sys.executable, "-m", "percus"]
EVENTS = "/analytics/v1/events"
# Variables of the developer's shell that would point a test server elsewhere.
_FOREIGN = ("PERCUS_QUEUE", "PERCUS_STORE", "PERCUS_QUERY_ENGINE", "PERCUS_TOKEN_KEYS", "PERCUS_VIEWER_KEYS",
            "PERCUS_RATE_LIMIT_PER_ADDRESS", "PERCUS_RATE_LIMIT_PER_TOKEN", "PERCUS_RATE_LIMIT_EXEMPT",
            "PERCUS_READ_TIMEOUT", "PERCUS_WRITE_TIMEOUT")


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in _FOREIGN}
    return {**env, "PERCUS_DATA_DIR": str(data_dir), **extra}


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM: uvicorn's graceful shutdown, then the writer flushes the queue."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def rss_bytes(self) -> int:
        """Resident memory of `percus serve`'s processes together (its gateway workers, its writer),
        from /proc."""
        return sum(_rss(pid) for pid in [self.proc.pid, *self.children()])

    def children(self, command: bytes = b"") -> list[int]:
        """The processes `percus serve` started whose command line holds `command`."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if (int(stat.read_text().rpartition(")")[2].split()[1]) == self.proc.pid
                        and command in (stat.parent / "cmdline").read_bytes()):
                    found.append(int(stat.parent.name))
            except (OSError, ValueError):  # gone meanwhile
                continue
        return found


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:  # ended meanwhile
        pass
    return 0


def _as_at_a_terminal() -> None:
    """SIGINT as a terminal's command has it: a suite started in the background (`cmd &`, some CI
    runners) passes SIGINT ignored to every process it starts, and Ctrl-C would then do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def serving(data_dir: Path, log: Path | None = None, *, options: Sequence[str] = (), quiet: bool = True,
            **env: str) -> Iterator[Server]:
    """`percus serve` (`--quiet` unless not `quiet`, then `options`) on a free loopback port, ready
    (readyz 200) when yielded; its output in `log` (default: beside the data dir); killed if the test
    leaves it running."""
    port = free_port()
    log = log or data_dir.parent / f"{data_dir.name}.serve.log"
    command = [*PERCUS, "serve", *(["--quiet"] if quiet else []), "--port", str(port), *options]
    # Output to a file, not a pipe: a pipe nobody reads would block the server once full.
    with open(log, "ab") as handle:
        # A process group of its own, as a shell gives it: a test may Ctrl-C (SIGINT) the whole group.
        proc = subprocess.Popen(command, cwd=REPO, env=environment(data_dir, **env), stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_as_at_a_terminal)
        server = Server(proc, f"http://127.0.0.1:{port}", log)
        try:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, f"server exited: {server.output()}"
                try:
                    if httpx.get(f"{server.base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"server not ready in 30 s: {server.output()}"
                time.sleep(0.1)
            yield server
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


def token(data_dir: Path, org: str = "acme", project: str = "p1") -> str:
    """A share token the server in `data_dir` accepts (signed with the key it generated there)."""
    return issue_token(load_settings({"PERCUS_DATA_DIR": str(data_dir)}).token_keys, org, project)


def compact(data_dir: Path, **env: str) -> str:
    """`percus compact`, as an operator runs it."""
    done = subprocess.run([*PERCUS, "compact"], cwd=REPO, env=environment(data_dir, **env),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def event(event_type: str = "video.played", *, session: str | None = None, **payload: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "schema_version": "1", "event_type": event_type,
            "occurred_at": "2026-11-25T10:00:00.000Z", "session_id": session or str(uuid.uuid4()),
            "consent": {"tracking": True}, "payload": payload or {"position_ms": 0}}


def local_store(data_dir: Path) -> LocalStore:
    return LocalStore(data_dir / "bucket")


def curated_ids(store: Store, org: str | None = None) -> list[str]:
    """Every event_id of the curated zone (of one organization), repeats included."""
    prefix = f"curated/org={org}/" if org else "curated/"
    ids: list[str] = []
    for key in store.list(prefix):
        if key.endswith(".parquet"):
            ids.extend(pq.read_table(io.BytesIO(store.get(key)), columns=["event_id"])
                       .column("event_id").to_pylist())
    return ids


def raw_events(store: Store, prefix: str = "raw/") -> Iterable[dict[str, Any]]:
    for key in store.list(prefix):
        yield from decode(store.get(key))
