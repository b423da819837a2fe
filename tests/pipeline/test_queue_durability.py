"""An acknowledged event survives `kill -9` of the process that enqueued it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.queue.local import LocalQueue, QueueLocked
from tests.pipeline._queue_sender import kill_sender_after


@pytest.mark.slow
def test_acknowledged_events_survive_kill_9(tmp_path: Path) -> None:
    directory = tmp_path / "q"

    def nobody_else_may_open_it(pid: int) -> None:
        with pytest.raises(QueueLocked, match=f"pid {pid}"):
            LocalQueue(directory)

    acknowledged = kill_sender_after(directory, 30_000, segment_bytes=256 * 1024, receives=True,
                                     while_running=nobody_else_may_open_it)

    assert len(list(directory.glob("*.seg"))) > 1  # the crash test crossed segment rolls
    delivered = []
    with LocalQueue(directory) as queue:
        while messages := queue.receive(1000, 0):
            delivered.extend(json.loads(m.body)["id"] for m in messages)
            queue.delete([m.receipt for m in messages])
    assert acknowledged <= set(delivered)
    # The log is an uncorrupted prefix of what was sent: nothing repeated, nothing skipped.
    assert delivered == list(range(len(delivered)))
