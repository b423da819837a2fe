"""Every event type × every consent state: stored or refused, with viewer identifiers or without,
through the gateway, the raw writer and the compactor into curated rows.

The expectations are the design's rules written out here, not read from the gateway's code:
  - consent.accepted, consent.declined: always stored (the audit trail of the decision);
  - video.errored: always stored (operational telemetry);
  - every other type: stored only with consent.tracking = true;
  - viewer identifiers (viewer_hash, playback_id) only with consent.tracking = true, and never on
    consent.declined; a stored viewer_hash is the gateway's keyed id, never the client's hash.
"""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.curated.compactor import compact
from pipeline.raw.writer import drain_batch
from pipeline.store.local import LocalStore
from tests.gateway._client import Gateway
from tests.gateway._events import VIEWER_HASH, event
from translator.canonical import EVENT_TYPES

ALWAYS_STORED = {"consent.accepted", "consent.declined", "video.errored"}
CONSENT_STATES = {"absent": None, "false": False, "true": True}


def expected(event_type: str, consent: bool | None) -> tuple[bool, bool]:
    """(stored, with identifiers)."""
    stored = consent is True or event_type in ALWAYS_STORED
    return stored, stored and consent is True and event_type != "consent.declined"


@pytest.mark.parametrize("state", CONSENT_STATES)
def test_each_event_type_is_stored_as_consent_allows(gateway: Gateway, tmp_path: Path, state: str) -> None:
    consent = CONSENT_STATES[state]
    sent = {event_type: event(event_type, consent=consent) for event_type in EVENT_TYPES}
    answer = gateway.post({"events": list(sent.values())}).json()
    refused = {list(sent)[item["index"]] for item in answer["rejected"]}
    assert refused == {t for t in EVENT_TYPES if not expected(t, consent)[0]}

    store = LocalStore(tmp_path / "bucket")
    drain_batch(gateway.queue, store, max_wait=0)
    compact(store)
    rows = {row["event_type"]: row for key in store.list("curated/")
            for row in pq.read_table(io.BytesIO(store.get(key))).to_pylist()}
    keyed = gateway.keyed(VIEWER_HASH)
    for event_type in EVENT_TYPES:
        stored, identified = expected(event_type, consent)
        assert (event_type in rows) == stored, event_type
        if stored:
            row = rows[event_type]
            assert row["event_id"] == sent[event_type]["event_id"]
            assert row["session_id"] == sent[event_type]["session_id"]  # never a viewer identifier
            assert (row["viewer_hash"], row["playback_id"]) == ((keyed, 1) if identified else (None, None)), \
                event_type
