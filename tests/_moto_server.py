"""moto server, with each SQS receive, delete and visibility change made atomic as they are on SQS.

moto 5.2 changes a queue's message list without a lock there (only a send takes the queue's lock):
a delete rebuilds the list, so two consumers deleting at once can bring back a deleted message, and
a delete during a send can drop the sent one; two receives at once can hand out one message twice.
With two consumers on one queue that was seen every few runs (a deleted batch of 10 left in flight),
which is moto's fault, not the code under test. The queue's own lock is taken around them here; a
long poll still lets others in, because waiting on that lock's condition releases it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from moto.server import main
from moto.sqs.models import SQSBackend


def _atomic(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(self: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        with self.get_queue(queue_name)._messages_lock:
            return method(self, queue_name, *args, **kwargs)

    return locked


for _name in ("receive_message", "delete_message", "change_message_visibility"):
    setattr(SQSBackend, _name, _atomic(getattr(SQSBackend, _name)))

if __name__ == "__main__":
    main(sys.argv[1:])
