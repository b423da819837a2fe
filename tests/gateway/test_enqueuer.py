"""The enqueuer's group append: the sends of one event-loop turn go to a local queue in one write."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway.enqueuer import Enqueuer, enqueue_new
from gateway.recent_ids import RecentIds
from pipeline.queue.base import QueueUnavailable
from pipeline.queue.local import LocalQueue


class Recording(LocalQueue):
    """A local queue that records each send() and refuses bodies equal to b"refused"."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.sends: list[list[bytes]] = []

    def send(self, bodies: Sequence[bytes]) -> None:
        self.sends.append(list(bodies))
        if b"refused" in bodies:
            raise ValueError("refused")
        super().send(bodies)


async def _send_all(enqueuer: Enqueuer, requests: list[list[bytes]]) -> list[BaseException | None]:
    """Every request's send started in the same turn of the loop; each one's outcome."""
    return list(await asyncio.gather(*(enqueuer.send(bodies) for bodies in requests), return_exceptions=True))


def _queued(queue: LocalQueue) -> list[bytes]:
    return [message.body for message in queue.receive(100, 0)]


def test_sends_of_one_turn_are_appended_in_one_write_in_order(tmp_path: Path) -> None:
    with Recording(tmp_path / "q") as queue:
        enqueuer = Enqueuer(queue)
        requests = [[b"a"], [b"b", b"c"], [b"d"]]
        assert asyncio.run(_send_all(enqueuer, requests)) == [None, None, None]
        assert queue.sends == [[b"a", b"b", b"c", b"d"]]
        assert _queued(queue) == [b"a", b"b", b"c", b"d"]
        assert asyncio.run(_send_all(enqueuer, [[b"e"]])) == [None]  # a later turn, a later write
        assert queue.sends[1:] == [[b"e"]]


def test_a_request_the_queue_refuses_fails_alone(tmp_path: Path) -> None:
    with Recording(tmp_path / "q") as queue:
        enqueuer = Enqueuer(queue)
        outcomes = asyncio.run(_send_all(enqueuer, [[b"a"], [b"refused", b"b"], [b"c"]]))
        assert outcomes[0] is None and outcomes[2] is None
        assert isinstance(outcomes[1], ValueError)
        assert _queued(queue) == [b"a", b"c"]  # none of the refused request's bodies
        assert enqueuer.ready


def test_an_unavailable_queue_fails_every_request_of_the_group(tmp_path: Path) -> None:
    queue = Recording(tmp_path / "q")
    queue.close()
    enqueuer = Enqueuer(queue)
    outcomes = asyncio.run(_send_all(enqueuer, [[b"a"], [b"b"]]))
    assert all(isinstance(outcome, QueueUnavailable) for outcome in outcomes)
    assert not enqueuer.ready


def test_enqueue_new_leaves_out_the_events_another_request_claimed(tmp_path: Path) -> None:
    with Recording(tmp_path / "q") as queue:
        recent = RecentIds()
        recent.claim("acme", [2])  # claimed by another request since this one looked (elsewhere, say)
        bodies = [b"one", b"two", b"three"]
        late = asyncio.run(enqueue_new(Enqueuer(queue), recent, "acme", [1, 2, 3], bodies))
        assert late == 1
        assert _queued(queue) == [b"one", b"three"]
        assert recent.among("acme", [1, 2, 3]) == {1, 2, 3}


def test_a_refused_enqueue_forgets_its_own_claims_only(tmp_path: Path) -> None:
    with Recording(tmp_path / "q") as queue:
        recent = RecentIds()
        recent.claim("acme", [2])  # another request's
        with pytest.raises(ValueError, match="refused"):
            asyncio.run(enqueue_new(Enqueuer(queue), recent, "acme", [1, 2], [b"refused", b"two"]))
        assert recent.among("acme", [1, 2]) == {2}
