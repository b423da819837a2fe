from __future__ import annotations

import uuid

from gateway.recent_ids import RecentIds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ids_remembered_as_integers_are_found_as_uuids_per_organization() -> None:
    recent = RecentIds(clock=Clock())
    event_id = uuid.uuid4()
    recent.claim("acme", [event_id.int])
    assert recent.among("acme", [event_id.int])
    assert not recent.among("globex", [event_id.int])
    assert not recent.among("acme", [uuid.uuid4().int])


def test_ids_are_forgotten_after_the_ttl_but_not_before_half_of_it() -> None:
    clock = Clock()
    recent = RecentIds(ttl_seconds=60, clock=clock)
    old, new = uuid.uuid4(), uuid.uuid4()
    recent.claim("acme", [old.int])
    clock.now += 29
    assert recent.among("acme", [old.int])
    clock.now += 2  # a new generation starts: the old id is in the previous one, still remembered
    recent.claim("acme", [new.int])
    assert recent.among("acme", [old.int])
    clock.now += 31
    assert not recent.among("acme", [old.int])
    assert recent.among("acme", [new.int])
    clock.now += 61
    assert not recent.among("acme", [new.int])
    assert len(recent) == 0


def test_memory_is_bounded_by_capacity() -> None:
    recent = RecentIds(capacity=100, clock=Clock())
    ids = [uuid.uuid4() for _ in range(1000)]
    recent.claim("acme", [event_id.int for event_id in ids])
    assert len(recent) <= 100
    assert recent.among("acme", [ids[-1].int])  # the newest are the ones kept
    assert not recent.among("acme", [ids[0].int])


def test_forgotten_ids_are_new_again_and_others_stay() -> None:
    recent = RecentIds(capacity=100, clock=Clock())
    kept, failed = uuid.uuid4(), uuid.uuid4()
    recent.claim("acme", [kept.int, failed.int])
    recent.forget("acme", [failed.int])
    recent.forget("globex", [kept.int])  # another organization's ids are not touched
    assert recent.among("acme", [kept.int]) and not recent.among("acme", [failed.int])
    assert len(recent) == 1


def test_among_tells_which_ids_of_a_batch_are_remembered() -> None:
    recent = RecentIds(ttl_seconds=60, clock=(clock := Clock()))
    old, new, unseen = (uuid.uuid4().int for _ in range(3))
    recent.claim("acme", [old])
    clock.now += 31
    recent.claim("acme", [new])  # old is in the previous generation now
    assert recent.among("acme", [old, new, unseen]) == {old, new}
    assert recent.among("globex", [old, new]) == set()


def test_claim_remembers_the_new_ids_and_returns_the_others() -> None:
    recent = RecentIds(clock=Clock())
    taken, new = uuid.uuid4().int, uuid.uuid4().int
    recent.claim("acme", [taken])
    assert recent.claim("acme", [taken, new]) == {taken}
    assert recent.among("acme", [taken, new]) == {taken, new}
    assert recent.claim("globex", [taken]) == set()
