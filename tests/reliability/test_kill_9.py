"""`kill -9` of `percus serve` in the middle of concurrent load: every event answered 202 is in
curated after a restart and a compaction, once."""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.gateway._events import PAYLOADS
from tests.gateway._events import event as make_event
from tests.reliability._load import Answers, cut, post
from tests.reliability._serve import compact, curated_ids, local_store, raw_events, serving, token

pytestmark = pytest.mark.slow

EVENTS = 60_000
KILL_AFTER = 20_000  # events acknowledged before the kill: the rest is in flight or never sent
EVENT_TYPES = sorted(PAYLOADS)


def test_events_answered_202_before_a_kill_9_under_load_all_land_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(20261202)
    data_dir, log = tmp_path / "data", tmp_path / "serve.log"
    share = token(data_dir)
    events = [make_event(EVENT_TYPES[i % len(EVENT_TYPES)]) for i in range(EVENTS)]
    requests = cut(events, rng, singles=500)
    answers = Answers()
    cut_off: list[BaseException] = []

    def load(base: str) -> None:
        try:
            post([base], share, requests, answers)
        except httpx.TransportError as exc:  # the server died under the clients: expected
            cut_off.append(exc)

    with serving(data_dir, log) as server:
        clients = threading.Thread(target=load, args=(server.base,))
        clients.start()
        deadline = time.monotonic() + 120
        while len(answers.acknowledged) < KILL_AFTER:
            assert clients.is_alive() and time.monotonic() < deadline, answers.failures
            time.sleep(0.01)
        server.proc.send_signal(signal.SIGKILL)
        assert server.proc.wait(timeout=30) == -signal.SIGKILL
        clients.join(60)
    acknowledged = set(answers.acknowledged)
    assert cut_off and answers.failures == [] and KILL_AFTER <= len(acknowledged) < EVENTS

    with serving(data_dir, log) as server:  # the writer drains what the queue kept
        store = local_store(data_dir)
        deadline = time.monotonic() + 60
        while acknowledged - {str(e["event_id"]) for e in raw_events(store)}:
            assert time.monotonic() < deadline, "acknowledged events missing from raw after restart"
            time.sleep(0.5)
        assert server.stop() in (0, -signal.SIGTERM), server.output()
    compact(data_dir)
    ids = curated_ids(store, "acme")
    assert len(ids) == len(set(ids))  # none twice
    assert acknowledged <= set(ids)  # none lost
    assert set(ids) <= {str(e["event_id"]) for e in events}
    with capsys.disabled():
        print(f"\nkill -9 under load: {len(acknowledged)} events answered 202 before the kill, "
              f"{len(ids) - len(acknowledged)} more landed without an answer (information only)")
    assert "Traceback" not in server.output()
