"""DSAR's step for the local queue when nobody carries its request out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.governance.dsar_queue import clear_queue
from pipeline.queue import scrub
from pipeline.queue.local import LocalQueue
from pipeline.store.local import LocalStore


def test_a_holder_that_never_receives_is_a_clear_timeout_and_the_request_waits(tmp_path: Path) -> None:
    directory = tmp_path / "queue"
    with LocalQueue(directory) as holder:  # holds the lock, and its consumer is stuck
        holder.send([b"V waiting"])
        with pytest.raises(TimeoutError, match=f"pid {os.getpid()} holds it"):
            clear_queue(directory, LocalStore(tmp_path / "bucket"), ["V "], timeout=0.3)
        assert holder.receive(10, 0) == []  # carried out as soon as it receives
    assert scrub.pending(directory) == []
