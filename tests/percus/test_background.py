"""The pipeline loop of `percus serve`: every step runs each tick, whatever the others do."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from percus.background import PipelineLoop
from pipeline.curated.compactor import CompactionBusy
from pipeline.store.base import Store
from pipeline.store.local import LocalStore


def test_a_failing_or_busy_step_does_not_hold_back_the_next(tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    def broken(store: Store) -> None:
        ran.append("broken")
        raise OSError("state file unreadable")

    def busy(store: Store) -> None:
        ran.append("busy")
        raise CompactionBusy("another compaction is running on this store")

    def retention(store: Store) -> None:
        ran.append("retention")

    loop = PipelineLoop(LocalStore(tmp_path), steps=(broken, busy, retention))
    with caplog.at_level(logging.INFO, "percus.background"):
        loop.tick()
        loop.tick()
    assert ran == ["broken", "busy", "retention"] * 2
    assert "broken failed; retrying next tick" in caplog.text
    assert "busy skipped" in caplog.text


def test_run_ticks_until_stopped(tmp_path: Path) -> None:
    stop, ticks = threading.Event(), []

    def step(store: Store) -> None:
        ticks.append(1)
        if len(ticks) == 3:
            stop.set()

    thread = threading.Thread(target=PipelineLoop(LocalStore(tmp_path), interval=0.01, steps=(step,)).run,
                              args=(stop,))
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and len(ticks) == 3


def test_a_nudge_compacts_before_the_next_tick(tmp_path: Path) -> None:
    stop, landed = threading.Event(), threading.Event()
    loop = PipelineLoop(LocalStore(tmp_path), interval=3600, steps=(), landed=lambda store: landed.set())
    thread = threading.Thread(target=loop.run, args=(stop,))
    thread.start()
    try:
        loop.nudge()  # what the writer does once it has landed raw objects
        assert landed.wait(30)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
