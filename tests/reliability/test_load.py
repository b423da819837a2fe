"""Load without loss on the embedded default: 200,000 events through a real `percus serve`.

Concurrent clients post every event once, mostly in batches of mixed sizes and a few thousand one
at a time, and re-send 5 % of them in other requests. Half way the server is stopped and started
again (a deploy under traffic): its memory of recent ids is gone, so the re-sends that follow get
past the gateway and reach raw, and the compactor has to drop them. Curated must then hold exactly
the unique events, and every event answered 202.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.gateway._events import PAYLOADS
from tests.gateway._events import event as make_event
from tests.reliability._load import Answers, cut, post
from tests.reliability._serve import compact, curated_ids, local_store, raw_events, serving, token

pytestmark = pytest.mark.slow

UNIQUE = 200_000
SINGLES = 3_000  # events posted one per request
RESENT = UNIQUE // 20  # 5 %, each in a request other than its first
EVENT_TYPES = sorted(PAYLOADS)


def test_200k_events_with_5_percent_resent_land_exactly_once(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(20261125)
    data_dir = tmp_path / "data"
    share = token(data_dir)
    events = [make_event(EVENT_TYPES[i % len(EVENT_TYPES)]) for i in range(UNIQUE)]
    first, second = events[: UNIQUE // 2], events[UNIQUE // 2 :]
    # A quarter of the re-sends repeat events of the same server run, and so does another quarter:
    # the gateway answers them as duplicates. The other half repeat the first run's events to the
    # second run: they are new to it, reach raw, and the compactor drops them.
    same_1, same_2 = rng.sample(first, RESENT // 4), rng.sample(second, RESENT // 4)
    across = rng.sample(first, RESENT // 2)
    fresh_1 = cut(first, rng, singles=SINGLES // 2)
    fresh_2 = cut(second, rng, singles=SINGLES // 2)
    rng.shuffle(fresh_1)
    rng.shuffle(fresh_2)
    resends_1 = cut(same_1, rng, singles=50, resend=True)
    resends_2 = cut(same_2 + across, rng, singles=50, resend=True)
    rng.shuffle(resends_2)

    answers = Answers()
    log = tmp_path / "serve.log"
    seconds = 0.0
    for fresh, resends in ((fresh_1, resends_1), (fresh_2, resends_2)):
        with serving(data_dir, log) as server:
            started = time.perf_counter()
            post([server.base], share, fresh, answers)
            post([server.base], share, resends, answers)  # once every first copy was answered
            seconds += time.perf_counter() - started
            assert server.stop() in (0, -signal.SIGTERM), server.output()

    posted = UNIQUE + RESENT
    with capsys.disabled():
        print(f"\nload, embedded default: {posted} events in {answers.requests} requests over 8 "
              f"connections in {seconds:.1f} s, {posted / seconds:,.0f} events/s (information only)")
    assert answers.failures == []
    requests = len(fresh_1) + len(fresh_2) + len(resends_1) + len(resends_2)
    assert answers.statuses == {202: requests}  # no 5xx, no refusal
    assert answers.acknowledged == {str(e["event_id"]) for e in events}
    assert answers.duplicates == RESENT // 2  # the re-sends within a run
    assert answers.accepted == UNIQUE + RESENT // 2

    store = local_store(data_dir)
    raw = Counter(str(e["event_id"]) for e in raw_events(store))
    assert sum(raw.values()) == UNIQUE + RESENT // 2  # the re-sends across the restart reached raw
    report = compact(data_dir)
    ids = curated_ids(store, "acme")
    assert len(ids) == UNIQUE, report  # none duplicated
    assert set(ids) == answers.acknowledged  # none lost
    assert "Traceback" not in server.output()
