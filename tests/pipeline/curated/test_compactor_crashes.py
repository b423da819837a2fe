"""The compactor killed or crashed at any write, run twice at once, and on S3 (moto server)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipeline.curated.compactor import CompactionBusy, CompactionReport, compact, curated_lock
from pipeline.store.base import Store
from pipeline.store.local import LocalStore
from pipeline.store.s3 import S3Store
from tests.pipeline._crashing_store import Crash, CrashingStore
from tests.pipeline.curated._raw import (
    REPO,
    all_rows,
    expected_rows,
    hour_of,
    put_raw,
    stored,
)


def _scenario() -> tuple[list[tuple[str, list[Any]]], list[tuple[str, list[Any]]], list[dict[str, Any]]]:
    """Two waves of raw objects (batch id, events), and the events the curated zone must hold after both."""
    day_end = [stored(received=f"2026-11-25T23:5{n}:00.000Z") for n in range(3)]
    next_day = [stored(received=f"2026-11-26T00:1{n}:00.000Z") for n in range(3)]
    retried = {**day_end[0], "received_at": "2026-11-26T00:20:00.000Z"}
    moved = stored(received="2026-11-26T01:30:00.000Z")
    earlier = {**moved, "received_at": "2026-11-26T00:59:00.000Z", "payload": {"position_ms": 99}}
    late = stored(received="2026-11-25T23:58:00.000Z")
    back = {**next_day[2], "received_at": "2026-11-25T23:59:30.000Z", "payload": {"position_ms": 77}}
    first_wave = [("a", day_end), ("b", [*next_day, retried]), ("c", [moved])]
    # Late objects: an earlier copy of an event curated an hour later, one of an event curated the
    # next day, and a corrupt object holding a new event and a duplicate.
    second_wave = [("d", [earlier]), ("e", [late, b"not json", day_end[1]]), ("f", [back])]
    return first_wave, second_wave, [*day_end, *next_day[:2], back, earlier, late]


FIRST_WAVE, SECOND_WAVE, FINAL_EVENTS = _scenario()


def _put_wave(store: Store, wave: list[tuple[str, list[Any]]]) -> None:
    for batch, items in wave:
        first = next(item for item in items if isinstance(item, dict))
        put_raw(store, items, batch=batch, hour=hour_of(first))


def _outcome(store: Store) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    return all_rows(store), list(store.list("raw/")), list(store.list("quarantine/"))


def test_a_crash_at_any_write_is_repaired_by_the_next_run(tmp_path: Path) -> None:
    reference = LocalStore(tmp_path / "reference")
    _put_wave(reference, FIRST_WAVE)
    compact(reference)
    _put_wave(reference, SECOND_WAVE)
    counting = CrashingStore(reference, None)
    compact(counting)
    expected = _outcome(reference)
    assert expected[0] == expected_rows(FINAL_EVENTS)
    assert len(expected[2]) == 1
    assert len(counting.writes) >= 8
    for crash_at in range(len(counting.writes)):
        store = LocalStore(tmp_path / f"crash-{crash_at}")
        _put_wave(store, FIRST_WAVE)
        compact(store)
        _put_wave(store, SECOND_WAVE)
        with pytest.raises(Crash):
            compact(CrashingStore(store, crash_at))
        compact(store)
        assert _outcome(store) == expected, f"crash before write {crash_at}"
        assert compact(store).raw_objects_read == 0


KILLER = """
import os, signal, sys
from pathlib import Path
from pipeline.curated.compactor import compact
from pipeline.store.local import LocalStore

class DiesAfterCurated(LocalStore):
    def put(self, key, data):
        super().put(key, data)
        if key.startswith("curated/"):
            os.kill(os.getpid(), signal.SIGKILL)  # between the curated file and the manifest

compact(DiesAfterCurated(Path(sys.argv[1])))
"""


def _python(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, stderr=subprocess.PIPE)


def test_a_killed_compactor_leaves_nothing_the_next_run_cannot_repair(store: LocalStore) -> None:
    _put_wave(store, FIRST_WAVE)
    process = _python("-c", KILLER, str(store.root))
    process.communicate(timeout=60)
    assert process.returncode == -9
    assert list(store.list("curated/")) and not list(store.list("state/"))  # written, not recorded
    report = compact(store, wait=False)  # the dead process's lock went with it
    assert report.raw_objects_read == 3
    _put_wave(store, SECOND_WAVE)
    compact(store)
    assert _outcome(store)[0] == expected_rows(FINAL_EVENTS)


def test_two_compactions_at_once_take_turns(store: LocalStore) -> None:
    _put_wave(store, FIRST_WAVE)
    _put_wave(store, SECOND_WAVE)
    script = "import sys; from pathlib import Path; from pipeline.curated.compactor import compact; " \
             "from pipeline.store.local import LocalStore; compact(LocalStore(Path(sys.argv[1])))"
    processes = [_python("-c", script, str(store.root)) for _ in range(2)]
    for process in processes:
        _, errors = process.communicate(timeout=60)
        assert process.returncode == 0, errors.decode()
    assert _outcome(store)[0] == expected_rows(FINAL_EVENTS)


def test_a_held_lock_makes_a_non_waiting_run_busy_and_a_waiting_run_wait(store: LocalStore) -> None:
    put_raw(store, [stored()])
    finished = threading.Event()
    with curated_lock(store):
        with pytest.raises(CompactionBusy):
            compact(store, wait=False)
        waiting = threading.Thread(target=lambda: (compact(store), finished.set()))
        waiting.start()
        assert not finished.wait(0.3)
        assert not list(store.list("curated/"))
    waiting.join(timeout=30)
    assert finished.is_set() and len(all_rows(store)) == 1


# --- S3 ---------------------------------------------------------------------------------------------

@pytest.mark.aws
def test_compacts_on_s3_through_moto_server(aws: str) -> None:
    boto3.client("s3").create_bucket(Bucket="lake")
    store = S3Store("lake", "percus")
    _put_wave(store, FIRST_WAVE)
    compact(store)
    _put_wave(store, SECOND_WAVE)
    report = compact(store)
    rows, raw, quarantined = _outcome(store)
    assert rows == expected_rows(FINAL_EVENTS)
    assert quarantined == [f"quarantine/{key}" for key in report.quarantined_objects]
    assert len(raw) == 5
    assert gzip.decompress(store.get(quarantined[0])).count(b"not json") == 1
    assert compact(store) == CompactionReport()
