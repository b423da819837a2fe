"""`make test-shifted` moves the wall clock of every Python process it starts; this proves the
mechanism (tests/clock_shift/) still works, against the kernel's own time (a file's mtime)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = """
import datetime, pathlib, sys, time
mark = pathlib.Path(sys.argv[1]); mark.touch()
real = mark.stat().st_mtime
print(datetime.datetime.now(datetime.UTC).timestamp() - real, time.time() - real)
"""


def test_a_python_process_of_the_shifted_run_lives_that_many_days_ahead(tmp_path: Path) -> None:
    env = {**os.environ, "PERCUS_TEST_CLOCK_SHIFT_DAYS": "45",
           "PYTHONPATH": str(REPO / "tests" / "clock_shift")}
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "mark")], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    for ahead in map(float, done.stdout.split()):
        assert abs(ahead - 45 * 86_400) < 60
