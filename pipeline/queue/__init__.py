"""The event queue between the gateway and the raw writer: a durable local log or SQS."""

from pipeline.queue.base import Message, Queue, QueueUnavailable

__all__ = ["Message", "Queue", "QueueUnavailable"]
