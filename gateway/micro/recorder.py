"""What Percus Micro saw: the queue its gateway enqueues into, kept in memory (the good events), the
refusals its capture recorded (the bad ones), and the requests waiting for events to arrive."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.queue.base import Message


class Recorder:
    """A Queue (pipeline/queue/base.py) that nothing consumes: every body sent stays, decoded, in
    `good` until reset. Sends come from the event loop (io_bound is False), where the waiters are."""

    io_bound = False

    def __init__(self) -> None:
        self.good: list[dict[str, Any]] = []
        self.bad: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()  # set, and replaced, on every send

    def send(self, bodies: Sequence[bytes]) -> None:
        self.good.extend(json.loads(body) for body in bodies)
        self._arrived.set()
        self._arrived = asyncio.Event()

    def receive(self, max_messages: int, wait_seconds: float) -> list[Message]:
        return []

    def delete(self, receipts: Sequence[str]) -> None:
        pass

    def release(self, receipts: Sequence[str], delay: float) -> None:
        pass

    def close(self) -> None:
        pass

    def reset(self) -> None:
        self.good.clear()
        self.bad.clear()

    def matching(self, filters: Mapping[str, str]) -> list[dict[str, Any]]:
        """The good events, oldest first, whose fields (top-level, else in the payload; a dotted name
        such as `consent.tracking` walks into objects) equal every filter's value, compared as query
        strings."""
        return [event for event in self.good
                if all(_text(_field(event, name)) == value for name, value in filters.items())]

    async def wait(self, count: int, timeout: float, filters: Mapping[str, str]
                   ) -> tuple[list[dict[str, Any]], bool]:
        """The matching events once there are `count` of them (True), or at the timeout (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(found := self.matching(filters)) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return found, False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        return found, True


def _field(event: dict[str, Any], name: str) -> Any:
    if name in event:
        return event[name]
    payload = event.get("payload")
    if isinstance(payload, dict) and name in payload:
        return payload[name]
    value: Any = event
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _text(value: Any) -> str | None:
    """A stored value as a query string would spell it: strings as they are, the rest as JSON."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)
