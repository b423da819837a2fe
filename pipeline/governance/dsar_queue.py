"""DSAR's first step on the embedded default: the local queue is left holding none of the viewer's
events, before the store is walked.

`percus dsar delete` may run while `percus serve` holds the queue's lock, or alone. Either way it files
a scrub request (pipeline/queue/scrub.py) and waits for the answer: `percus serve`'s writer carries
it out on its next receive; when no process holds the lock, this one takes it and runs the writer
itself until the request is answered. Records the writer held at the time are in raw objects by then,
where the walk finds them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.queue import scrub
from pipeline.queue.local import LocalQueue, QueueLocked
from pipeline.raw.writer import drain_batch
from pipeline.store.base import Store

TIMEOUT = 600.0  # seconds: percus serve answers within a writer batch unless it holds poison messages
_POLL = 0.1
# While this process drains the queue, a message it fails to write comes back after a second, so a
# poison message reaches the dead letters (where the request then scrubs it) within seconds.
_VISIBILITY = 1.0


@dataclass(frozen=True)
class QueueReport:
    result: scrub.ScrubResult
    holder: str | None  # pid of the process that carried the request out; None: this one did
    written: int  # other events this process wrote to raw while it held the queue


def clear_queue(directory: Path, store: Store, needles: Sequence[str], *,
                timeout: float = TIMEOUT) -> QueueReport:
    """Have every record, dead letter and corrupt file holding one of `needles` removed from the
    local queue in `directory`, and every segment that held one deleted; the queue's other records
    go to `store` as raw objects. TimeoutError when that takes longer than `timeout` seconds."""
    name = scrub.ask(directory, needles)
    deadline = time.monotonic() + timeout
    written = 0
    while True:
        try:
            # The receiving side only: a gateway may be sending to it while percus serve's writer
            # process is being restarted.
            queue = LocalQueue(directory, visibility_timeout=_VISIBILITY, sends=False)
        except QueueLocked as busy:
            holder: str | None = busy.holder
            # Asked again after a while: the holder may stop, and then nobody would carry it out.
            result = _await(directory, name, min(deadline, time.monotonic() + 5))
        else:
            holder = None
            with queue:
                while (result := scrub.answer(directory, name)) is None and time.monotonic() < deadline:
                    written += drain_batch(queue, store, max_wait=_POLL, poll=_POLL).events_written
        if result is not None:
            return QueueReport(result, holder, written)
        if time.monotonic() >= deadline:
            why = (f"pid {holder} holds it: is that percus serve's writer running?" if holder
                   else "the store refused some of its events")
            raise TimeoutError(f"the queue in {directory} did not drain within {timeout:.0f} s ({why}); "
                               "run the request again")


def _await(directory: Path, name: str, until: float) -> scrub.ScrubResult | None:
    while (result := scrub.answer(directory, name)) is None and time.monotonic() < until:
        time.sleep(_POLL)
    return result
