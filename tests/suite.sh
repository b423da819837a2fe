#!/usr/bin/env bash
# `make test`'s run of the suite, in two processes at once on the machine's two cores:
# - the browser and subprocess tests (e2e, slow), with the real clock: they spend much of their time
#   waiting on Chromium and servers, and the browser's clock cannot be moved with Python's;
# - the fast tests with the wall clock of every Python process they start moved 400 days ahead
#   (tests/clock_shift/): a test that depends on today's date fails now, not on that day.
# Plain `pytest` runs everything with the real clock; `make test-shifted` the fast tests at 45 and 400 days.
# The fast run's output is held in a file and printed after the other's, so neither is garbled; each
# ends with its 15 slowest tests, the first place to look when the suite grows slow.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST=.venv/bin/pytest
held=$(mktemp -d)
trap 'rm -rf "$held"' EXIT

# Each run has its own temporary root, so neither cleans up the other's directories; time_machine is
# imported before pytest loads it as a plugin, hence the one ignored warning.
PERCUS_TEST_CLOCK_SHIFT_DAYS=400 PYTHONPATH=tests/clock_shift \
  $PYTEST -q -m "not e2e and not slow" -p no:cacheprovider --basetemp="$held/tmp" --durations=15 \
  -W ignore::pytest.PytestAssertRewriteWarning >"$held/fast.log" 2>&1 &
fast=$!

echo "== the e2e and slow tests (the fast ones run beside them with the clock 400 days ahead)"
$PYTEST -m "e2e or slow" --durations=15 "$@"
slow_status=$?

wait "$fast"
fast_status=$?
echo "== the fast tests with the clock 400 days ahead"
cat "$held/fast.log"
exit $(( slow_status != 0 ? slow_status : fast_status ))
