"""Property-based tests of the shared recent ids (hypothesis), on tables small enough that every run
rotates, fills with tombstones and wraps its probes: whatever two processes claim and forget, an id
is never found that was not claimed or was forgotten since (a false duplicate loses an event), and
an id just claimed is always found."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from gateway.shared.recent_ids import SharedRecentIds

ORGS = ("acme", "globex")
# Few ids, so that they recur: remembered again, forgotten, found in another organization.
SPREAD = 0x9E3779B97F4A7C15_F39CC0605CEDC835  # odd: n -> n * SPREAD is one-to-one on 128 bits
IDS = st.integers(min_value=0, max_value=40).map(lambda n: n * SPREAD % (1 << 128))
STEPS = st.lists(st.tuples(
    st.sampled_from(["claim", "forget", "among", "later"]),
    st.integers(min_value=0, max_value=1),  # which of the two attachments
    st.sampled_from(ORGS),
    st.lists(IDS, min_size=1, max_size=12),
), max_size=60)


@examples(max_examples=300, deadline=None)
@given(steps=STEPS)
def test_never_a_false_duplicate_and_always_the_id_just_claimed(
        steps: list[tuple[str, int, str, list[int]]]) -> None:
    now = [1000.0]
    with tempfile.TemporaryDirectory() as directory:
        run = Path(directory)
        # 16 ids at most, in tables of 16 slots; a 60-second TTL.
        SharedRecentIds.create(run, capacity=16, ttl_seconds=60, clock=lambda: now[0])
        # Two attachments lock each other out and own their ids apart, as two processes do.
        attached = [SharedRecentIds.attach(run, clock=lambda: now[0]) for _ in range(2)]
        remembered: set[tuple[str, int]] = set()  # remembered and not forgotten since, whenever
        try:
            for step, which, org, ids in steps:
                recent = attached[which]
                if step == "claim":
                    taken = recent.claim(org, ids)
                    assert taken <= {event_id for event_id in ids if (org, event_id) in remembered}
                    remembered.update((org, event_id) for event_id in ids)
                    # An id taken already is left where it was (its generation may go next), not one
                    # just claimed.
                    claimed = [event_id for event_id in ids if event_id not in taken][-1:]
                    assert attached[1 - which].among(org, claimed) == set(claimed)
                    assert attached[1 - which].claim(org, claimed) == set(claimed)
                elif step == "forget":
                    recent.forget(org, ids)
                    remembered.difference_update((org, event_id) for event_id in ids)
                    assert recent.among(org, ids) == set()
                elif step == "among":
                    assert recent.among(org, ids) <= {event_id for event_id in ids
                                                      if (org, event_id) in remembered}
                else:
                    now[0] += 10 * len(ids)  # up to two minutes: rotations by time, stale generations
            for org in ORGS:
                found = attached[0].among(org, [event_id for _, event_id in remembered])
                assert found <= {event_id for remembered_org, event_id in remembered if remembered_org == org}
        finally:
            for recent in attached:
                recent.close()
