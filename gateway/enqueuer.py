"""Hands stored events to the queue without blocking the event loop, and remembers whether it could;
`enqueue_new`, the routes' one way to enqueue events with their ids kept as recent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence

from starlette.concurrency import run_in_threadpool

from gateway.errors import ApiError
from gateway.recent_ids import RecentEventIds
from pipeline.queue.base import Queue, QueueUnavailable

RETRY_AFTER_SECONDS = 2


class Enqueuer:
    def __init__(self, queue: Queue, unready_seconds: float = 5.0) -> None:
        self.queue = queue
        self._unready_seconds = unready_seconds
        self._failed_at: float | None = None
        # Sends waiting for the next group append: (bodies, future answered when they are enqueued).
        self._group: list[tuple[Sequence[bytes], asyncio.Future[None]]] = []

    @property
    def ready(self) -> bool:
        """False for a few seconds after the queue refused a send, so load balancers route elsewhere."""
        return self._failed_at is None or time.monotonic() - self._failed_at >= self._unready_seconds

    def send(self, bodies: Sequence[bytes]) -> Awaitable[None]:
        """Await it: returns once every body is enqueued; raises QueueUnavailable having enqueued none.

        A plain function returning a future, not a coroutine: one frame less to create and to resume.
        """
        if self.queue.io_bound:
            return run_in_threadpool(self._send, bodies)
        # A local append is cheap, but a system call per request is not: the requests that reach this
        # point in one turn of the event loop are appended together, at its end, in one write.
        loop = asyncio.get_running_loop()
        if not self._group:
            loop.call_soon(self._append_group)
        done = loop.create_future()
        self._group.append((bodies, done))
        return done

    def _append_group(self) -> None:
        group, self._group = self._group, []
        try:
            self._send([body for bodies, _ in group for body in bodies])
        except QueueUnavailable as exc:
            for _, done in group:
                _settle(done, exc)
        except Exception:
            # One request's bodies spoiled the group (one too large, say): each request on its own.
            for bodies, done in group:
                try:
                    self._send(bodies)
                except Exception as exc:
                    _settle(done, exc)
                else:
                    _settle(done, None)
        else:
            for _, done in group:
                _settle(done, None)

    def _send(self, bodies: Sequence[bytes]) -> None:
        try:
            self.queue.send(bodies)
        except QueueUnavailable:
            self._failed_at = time.monotonic()
            raise
        self._failed_at = None


async def enqueue_new(enqueuer: Enqueuer, recent: RecentEventIds, organization: str,
                      event_ids: Sequence[int], bodies: Sequence[bytes]) -> int:
    """Enqueue the bodies (one per id) of events not seen recently, and return how many turned out to
    be duplicates after all: ids another request claimed since they were looked up (in another
    process, say), whose bodies are left out. The others are claimed before the queue is awaited,
    so a concurrent request with the same ids is answered as a duplicate instead of enqueuing them
    again, and forgotten if the queue refuses them (ApiError 503), so that the client's retry is not
    a duplicate."""
    taken = recent.claim(organization, event_ids)
    if taken:
        kept = [(event_id, body) for event_id, body in zip(event_ids, bodies, strict=True)
                if event_id not in taken]
        event_ids, bodies = [event_id for event_id, _ in kept], [body for _, body in kept]
        if not bodies:
            return len(taken)
    try:
        await enqueuer.send(bodies)
    except BaseException as exc:
        recent.forget(organization, event_ids)
        if isinstance(exc, QueueUnavailable):
            raise ApiError(503, "queue_unavailable", "events cannot be stored right now; retry later",
                           headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
        raise
    return len(taken)


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.cancelled():  # its request went away (server shutdown): nobody to answer
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
