"""The queue protocol both backends implement (SQS semantics: at-least-once, visibility timeout)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol


class QueueUnavailable(Exception):
    """The queue cannot take or give messages right now (disk full, SQS down): retry later."""


class Message(NamedTuple):  # a tuple: a writer's batch makes a thousand, at half a frozen dataclass's cost
    body: bytes
    receipt: str  # opaque handle for delete()
    receive_count: int  # 1 on first delivery


class Queue(Protocol):
    # True when send() waits on the network: the gateway then calls it from a worker thread.
    io_bound: bool

    def send(self, bodies: Sequence[bytes]) -> None:
        """Enqueue every body, or raise QueueUnavailable having acknowledged none of them."""

    def receive(self, max_messages: int, wait_seconds: float) -> list[Message]:
        """Up to max_messages, hidden from other receivers until deleted or the visibility timeout."""

    def delete(self, receipts: Sequence[str]) -> None:
        """Acknowledge messages as processed; they are never delivered again."""

    def release(self, receipts: Sequence[str], delay: float) -> None:
        """Messages that could not be processed through no fault of their own (the store is down):
        deliver them again after `delay` seconds, without counting this delivery toward the
        dead-letter limit where the backend allows it (local: yes; SQS counts every receive, and its
        redrive policy is sized for outages instead)."""

    def close(self) -> None: ...
