"""An acknowledged event survives `kill -9` of the process that enqueued it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.queue.local import LocalQueue, QueueLocked

REPO = Path(__file__).resolve().parents[2]

# Sends batches of random size as fast as it can and prints each batch's first id and size once
# send() has returned, i.e. once the events count as acknowledged.
_SENDER = r"""
import json, random, sys
from pathlib import Path
from pipeline.queue.local import LocalQueue

queue = LocalQueue(Path(sys.argv[1]), segment_bytes=256 * 1024)
rng = random.Random(7)
next_id = 0
while True:
    n = rng.randint(1, 50)
    queue.send([json.dumps({"id": next_id + k, "pad": "x" * rng.randint(0, 400)}).encode()
                for k in range(n)])
    sys.stdout.write(f"{next_id} {n}\n")
    sys.stdout.flush()
    next_id += n
"""


@pytest.mark.slow
def test_acknowledged_events_survive_kill_9(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    child = subprocess.Popen([sys.executable, "-c", _SENDER, str(directory)], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acknowledged: set[int] = set()
    try:
        assert child.stdout is not None
        for line in child.stdout:
            first, n = map(int, line.split())
            acknowledged.update(range(first, first + n))
            if len(acknowledged) >= 30_000:
                break
        # While it runs, nobody else may open its queue.
        with pytest.raises(QueueLocked, match=f"pid {child.pid}"):
            LocalQueue(directory)
        os.kill(child.pid, signal.SIGKILL)  # mid-stream: it is still sending
    finally:
        child.kill()
        rest, errors = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, errors
    for line in rest.splitlines():  # acknowledgements printed before it died
        first, n = map(int, line.split())
        acknowledged.update(range(first, first + n))

    assert len(list(directory.glob("*.seg"))) > 1  # the crash test crossed segment rolls
    delivered = []
    with LocalQueue(directory) as queue:
        while messages := queue.receive(1000, 0):
            delivered.extend(json.loads(m.body)["id"] for m in messages)
            queue.delete([m.receipt for m in messages])
    assert acknowledged <= set(delivered)
    # The log is an uncorrupted prefix of what was sent: nothing repeated, nothing skipped.
    assert delivered == list(range(len(delivered)))
