"""A process sending to a local queue as fast as it can, killed -9 mid-stream by the durability tests:
what it acknowledged (send() returned) must all be delivered, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Sends batches of random size and prints each batch's first id and size once send() has returned,
# i.e. once the events count as acknowledged. Arguments: directory, first id, segment bytes, whether
# it also receives (one process doing both) or only sends (another process receives), whether other
# processes send too.
_SENDER = r"""
import json, random, sys
from pathlib import Path
from pipeline.queue.local import LocalQueue

queue = LocalQueue(Path(sys.argv[1]), segment_bytes=int(sys.argv[3]), receives=sys.argv[4] == "1",
                   sole_sender=sys.argv[5] == "1")
next_id = int(sys.argv[2])
rng = random.Random(next_id)
while True:
    n = rng.randint(1, 50)
    queue.send([json.dumps({"id": next_id + k, "pad": "x" * rng.randint(0, 400)}).encode()
                for k in range(n)])
    sys.stdout.write(f"{next_id} {n}\n")
    sys.stdout.flush()
    next_id += n
"""


def kill_sender_after(directory: Path, count: int, *, first_id: int = 0, segment_bytes: int,
                      receives: bool, sole_sender: bool = True,
                      while_running: Callable[[int], None] | None = None) -> set[int]:
    """Start a sending process, let it acknowledge `count` events, call `while_running(pid)`, kill -9
    it; the ids it acknowledged."""
    arguments = [str(directory), str(first_id), str(segment_bytes), "1" if receives else "0",
                 "1" if sole_sender else "0"]
    child = subprocess.Popen([sys.executable, "-c", _SENDER, *arguments], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acknowledged: set[int] = set()
    try:
        assert child.stdout is not None
        for line in child.stdout:
            first, n = map(int, line.split())
            acknowledged.update(range(first, first + n))
            if len(acknowledged) >= count:
                break
        if while_running is not None:
            while_running(child.pid)
        os.kill(child.pid, signal.SIGKILL)  # mid-stream: it is still sending
    finally:
        child.kill()
        rest, errors = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, errors
    for line in rest.splitlines():  # acknowledgements printed before it died
        first, n = map(int, line.split())
        acknowledged.update(range(first, first + n))
    return acknowledged
