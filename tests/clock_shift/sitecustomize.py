"""`make test-shifted`: every Python process of the run (pytest, moto server, `percus serve`, the
`percus` command) finds this module on PYTHONPATH and, when PERCUS_TEST_CLOCK_SHIFT_DAYS is set, runs
with its wall clock that many days ahead. Monotonic clocks and sleeps are untouched (libfaketime shifts
those too, and Python 3.11's sleeps and timed waits break under it)."""

import os

if shift := os.environ.get("PERCUS_TEST_CLOCK_SHIFT_DAYS"):
    from datetime import UTC, datetime, timedelta

    import time_machine

    time_machine.travel(datetime.now(UTC) + timedelta(days=int(shift)), tick=True).start()
