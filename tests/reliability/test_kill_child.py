"""`kill -9` of one of `percus serve`'s child processes alone, in the middle of concurrent load: the
writer, or one of two gateway workers. The gateway keeps answering (clients whose connection the
killed worker held send again, as clients with a retry policy do), a new process takes over, and every
event answered 202 is in curated after a graceful stop and a compaction, once."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.gateway._events import PAYLOADS
from tests.gateway._events import event as make_event
from tests.reliability._load import Answers, cut, post
from tests.reliability._serve import Server, compact, curated_ids, local_store, serving, token

pytestmark = pytest.mark.slow

EVENTS = 40_000
KILL_AFTER = 10_000  # events acknowledged before the writer is killed
EVENT_TYPES = sorted(PAYLOADS)


def writer_pid(data_dir: Path, server: Server) -> int | None:
    """The pid of the process receiving from the queue (it holds `queue/lock`), once it does."""
    try:
        text = (data_dir / "queue" / "lock").read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def worker_pid(data_dir: Path, server: Server) -> int | None:
    """The pid of one of the gateway workers, once two run."""
    workers = sorted(server.children(b"percus.gateway_worker"))
    return workers[0] if len(workers) == 2 else None


@pytest.mark.parametrize("victim", [writer_pid, worker_pid], ids=["writer", "gateway worker"])
def test_events_answered_202_before_and_after_a_kill_9_of_a_child_all_land_once(
        tmp_path: Path, victim: Callable[[Path, Server], int | None]) -> None:
    rng = random.Random(20261207)
    data_dir, log = tmp_path / "data", tmp_path / "serve.log"
    share = token(data_dir)
    events = [make_event(EVENT_TYPES[i % len(EVENT_TYPES)]) for i in range(EVENTS)]
    answers = Answers()

    with serving(data_dir, log, options=["--workers", "2"]) as server:
        deadline = time.monotonic() + 60
        while (killed := victim(data_dir, server)) is None:  # starting
            assert server.proc.poll() is None and time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        clients = threading.Thread(target=post, args=([server.base], share, cut(events, rng, singles=500),
                                                      answers), kwargs={"retry": True})
        clients.start()
        deadline = time.monotonic() + 120
        while len(answers.acknowledged) < KILL_AFTER:
            assert clients.is_alive() and time.monotonic() < deadline, answers.failures
            time.sleep(0.01)
        os.kill(killed, signal.SIGKILL)  # mid-batch, or mid-request
        assert len(answers.acknowledged) < EVENTS  # killed under load
        while victim(data_dir, server) in (killed, None):  # the supervisor starts another
            assert server.proc.poll() is None and time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        clients.join(120)
        assert not clients.is_alive()
        assert server.stop() in (0, -signal.SIGTERM), server.output()  # the writer flushes the queue
    assert answers.failures == [] and len(answers.acknowledged) == EVENTS  # the gateway never stopped

    compact(data_dir)
    ids = curated_ids(local_store(data_dir), "acme")
    assert len(ids) == len(set(ids))  # none twice (the killed writer's batch was written again)
    assert set(ids) == set(answers.acknowledged)  # none lost
    assert "exited with -9; starting another" in server.output()
    assert "Traceback" not in server.output()
