"""Hands stored events to the queue without blocking the event loop, and remembers whether it could."""

from __future__ import annotations

import time
from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool

from pipeline.queue.base import Queue, QueueUnavailable

RETRY_AFTER_SECONDS = 2


class Enqueuer:
    def __init__(self, queue: Queue, unready_seconds: float = 5.0) -> None:
        self.queue = queue
        self._unready_seconds = unready_seconds
        self._failed_at: float | None = None

    @property
    def ready(self) -> bool:
        """False for a few seconds after the queue refused a send, so load balancers route elsewhere."""
        return self._failed_at is None or time.monotonic() - self._failed_at >= self._unready_seconds

    async def send(self, bodies: Sequence[bytes]) -> None:
        """Returns once every body is enqueued; raises QueueUnavailable having enqueued none."""
        try:
            if self.queue.io_bound:
                await run_in_threadpool(self.queue.send, bodies)
            else:
                self.queue.send(bodies)  # a local append: cheaper than a thread hop
        except QueueUnavailable:
            self._failed_at = time.monotonic()
            raise
        self._failed_at = None
