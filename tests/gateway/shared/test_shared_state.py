"""The recent ids and rate limit buckets shared by worker processes (gateway/shared/), each worker a
real process (tests/gateway/shared/_worker.py) with the gateway app as `percus serve` builds it."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.shared import buckets, recent_ids
from gateway.shared.buckets import SharedBuckets
from gateway.shared.mapped_file import MappedFile
from gateway.shared.recent_ids import SharedRecentIds
from gateway.tokens import issue_token
from pipeline.config import load_settings
from tests.gateway._client import TOKEN_KEYS
from tests.gateway._events import event

pytestmark = pytest.mark.slow  # each test starts worker processes

ROOT = Path(__file__).resolve().parents[3]


class Worker:
    def __init__(self, run_dir: Path, data_dir: Path, env: dict[str, str] | None = None) -> None:
        salt = (run_dir / "test-salt").read_text()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.gateway.shared._worker", str(run_dir), str(data_dir), salt],
            cwd=ROOT, env={**os.environ, **(env or {})}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)

    def ask(self, command: str, *args: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps([command, *args]) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def post(self, body: Any, organization: str = "acme") -> tuple[int, dict[str, Any]]:
        token = issue_token(load_settings({"PERCUS_TOKEN_KEYS": TOKEN_KEYS}).token_keys, organization, "p1")
        status, answer = self.ask("post", token, body)
        return status, answer

    def stop(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()  # the worker's end of its commands
        self.process.wait()
        self.process.stdout.close()


def made(run: Path) -> Path:
    """What the supervisor makes before it starts the workers: small tables, a 60-second TTL."""
    run.mkdir()
    SharedRecentIds.create(run, capacity=100, ttl_seconds=60, clock=lambda: 1000.0)
    (run / "test-salt").write_text(SharedBuckets.create(run, capacity=100).hex())  # for Worker to pass on
    return run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return made(tmp_path_factory.mktemp("shared") / "run")


@pytest.fixture(scope="module")
def started(run_dir: Path) -> Iterator[tuple[Worker, Worker]]:
    """Two workers for the module: a worker takes seconds to start."""
    pair = Worker(run_dir, run_dir.parent / "a"), Worker(run_dir, run_dir.parent / "b")
    yield pair
    for worker in pair:
        worker.stop()


@pytest.fixture
def workers(started: tuple[Worker, Worker]) -> tuple[Worker, Worker]:
    """The two workers, their clocks at 1000 and no id remembered, the tables' generation begun then."""
    for worker in started:
        worker.ask("now", 1000.0)
    started[0].ask("clear")
    return started


def ids(count: int) -> list[str]:
    return [uuid.uuid4().hex for _ in range(count)]


def test_an_event_enqueued_by_one_worker_is_a_duplicate_at_the_other(workers: tuple[Worker, Worker]) -> None:
    a, b = workers
    sent, new = event(), event()
    assert a.post(sent) == (202, {"accepted": 1, "duplicates": 0, "rejected": []})
    assert b.post(sent) == (202, {"accepted": 0, "duplicates": 1, "rejected": []})
    assert b.post({"events": [new, sent]}) == (202, {"accepted": 1, "duplicates": 1, "rejected": []})
    assert a.post({"events": [new]}) == (202, {"accepted": 0, "duplicates": 1, "rejected": []})
    assert b.post(sent, organization="globex") == (202, {"accepted": 1, "duplicates": 0, "rejected": []})


def test_forgetting_in_one_process_undoes_remembering_in_another(workers: tuple[Worker, Worker]) -> None:
    a, b = workers
    kept, failed = ids(2)
    a.ask("claim", "acme", [kept, failed])
    assert b.ask("among", "acme", [kept, failed]) == sorted([kept, failed])
    b.ask("forget", "acme", [failed])
    b.ask("forget", "globex", [kept])  # another organization's ids are not touched
    assert a.ask("among", "acme", [kept, failed]) == [kept]
    assert a.ask("len") == 1
    a.ask("claim", "acme", [failed])  # a forgotten id can be remembered again
    assert b.ask("among", "acme", [failed]) == [failed]


def test_ids_a_worker_remembered_before_it_died_are_new_again(tmp_path: Path, run_dir: Path,
                                                              workers: tuple[Worker, Worker]) -> None:
    a, b = workers
    dying = Worker(run_dir, tmp_path / "dying")
    try:
        sent = ids(3)
        dying.ask("claim", "acme", sent)  # then killed before it enqueued them, say
        assert a.ask("among", "acme", sent) == sorted(sent)  # while it lives, they are duplicates
        dying.process.send_signal(signal.SIGKILL)
        assert dying.process.wait() == -signal.SIGKILL
        assert a.ask("among", "acme", sent) == []  # the client's resend is accepted
        assert b.ask("claim", "acme", sent[:1]) == []  # b enqueues it
        assert a.ask("among", "acme", sent) == sent[:1]
    finally:
        dying.stop()


def test_each_id_is_claimed_by_one_process(workers: tuple[Worker, Worker]) -> None:
    a, b = workers
    first, second = ids(2)
    assert a.ask("claim", "acme", [first]) == []
    assert b.ask("claim", "acme", [first, second]) == [first]  # a's stands; second is b's now
    assert a.ask("claim", "acme", [second]) == [second]
    assert a.ask("claim", "globex", [first, second]) == []


def test_one_organizations_ids_never_mark_anothers(workers: tuple[Worker, Worker]) -> None:
    a, b = workers
    sent = ids(50)
    a.ask("claim", "acme", sent)
    assert b.ask("among", "globex", sent) == []
    assert b.ask("among", "acme", sent) == sorted(sent)


def test_generations_rotate_alike_in_every_process(workers: tuple[Worker, Worker]) -> None:
    a, b = workers  # the tables were created at 1000 with a 60-second TTL
    old, new = ids(2)
    a.ask("claim", "acme", [old])
    for worker in workers:
        worker.ask("now", 1029.0)
    assert b.ask("among", "acme", [old]) == [old]
    for worker in workers:
        worker.ask("now", 1031.0)
    b.ask("claim", "acme", [new])  # a new generation starts: the old id is in the previous one
    assert a.ask("among", "acme", [old, new]) == sorted([old, new])
    for worker in workers:
        worker.ask("now", 1062.0)
    assert a.ask("among", "acme", [old, new]) == [new]  # a's question rotates for b too
    assert b.ask("among", "acme", [old]) == []
    for worker in workers:
        worker.ask("now", 1123.0)
    assert b.ask("among", "acme", [new]) == []
    assert a.ask("len") == 0


def test_a_table_that_fills_keeps_the_newest_ids(workers: tuple[Worker, Worker]) -> None:
    a, b = workers  # capacity 100
    sent = ids(1000)
    for start in range(0, 1000, 50):
        (a if start % 100 else b).ask("claim", "acme", sent[start:start + 50])
    assert a.ask("len") <= 100
    assert b.ask("among", "acme", sent[-50:]) == sorted(sent[-50:])
    assert a.ask("among", "acme", sent[:100]) == []
    # Forgotten ids leave tombstones: a table three quarters full of them rotates (40 at a time never
    # make the 50 ids of a generation), and remembering still works.
    for start in range(0, 1000, 40):
        a.ask("claim", "acme", sent[start:start + 40])
        b.ask("forget", "acme", sent[start:start + 40])
    last = ids(1)
    b.ask("claim", "acme", last)
    assert a.ask("among", "acme", [*last, *sent[-50:]]) == last


def test_the_rate_limit_counts_every_workers_requests(tmp_path: Path) -> None:
    # 3 requests per address, refilled at 0.001 per second: a refused request stays refused meanwhile.
    env = {"PERCUS_RATE_LIMIT_PER_ADDRESS": "0.001:3", "PERCUS_RATE_LIMIT_EXEMPT": ""}
    run_dir = made(tmp_path / "run")
    a, b = Worker(run_dir, tmp_path / "a", env), Worker(run_dir, tmp_path / "b", env)
    try:
        _three_pass_then_refused(a, b)
    finally:
        a.stop()
        b.stop()
    # The salt stays in the processes' memory: the file's keys cannot be tied back to an address.
    salt = bytes.fromhex((run_dir / "test-salt").read_text())
    assert salt not in (run_dir / buckets.FILE_NAME).read_bytes()


def _three_pass_then_refused(a: Worker, b: Worker) -> None:
    assert [a.post(event())[0], b.post(event())[0], a.post(event())[0]] == [202, 202, 202]
    status, answer = b.post(event())
    assert (status, answer["error"]["code"]) == (429, "rate_limited")
    assert a.post(event())[0] == 429


@pytest.mark.parametrize("name", [recent_ids.FILE_NAME, buckets.FILE_NAME])
def test_a_worker_killed_holding_the_lock_wedges_nobody(tmp_path: Path, run_dir: Path,
                                                        workers: tuple[Worker, Worker], name: str) -> None:
    a, _ = workers
    holder = Worker(run_dir, tmp_path / "holder")  # its own data dir: its own queue
    assert holder.ask("lock", name) == "locked"
    fd = os.open(run_dir / name, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by the live worker
        holder.process.send_signal(signal.SIGKILL)
        assert holder.process.wait() == -signal.SIGKILL
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released by its death
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
        holder.stop()
    sent = event()
    assert a.post(sent) == (202, {"accepted": 1, "duplicates": 0, "rejected": []})
    assert a.post(sent) == (202, {"accepted": 0, "duplicates": 1, "rejected": []})


def test_a_file_of_another_kind_is_refused(run_dir: Path) -> None:
    with pytest.raises(ValueError, match="holds no recent ids"):
        SharedRecentIds(MappedFile(run_dir / buckets.FILE_NAME))
    with pytest.raises(ValueError, match="holds no rate limit buckets"):
        SharedBuckets(MappedFile(run_dir / recent_ids.FILE_NAME), bytes(16))
