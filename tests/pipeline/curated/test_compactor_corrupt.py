"""The compactor on damaged input: corrupt objects and lines quarantined, the good events beside them
landed; its fast checks agree with the canonical models."""

from __future__ import annotations

import json
import uuid
import zlib
from datetime import datetime
from typing import Any

from pipeline.curated.compactor import CompactionReport, compact
from pipeline.layout import raw_key
from pipeline.raw import rawfile
from pipeline.store.local import LocalStore
from tests.pipeline.curated._raw import (
    ORG,
    PAYLOADS,
    all_rows,
    expected_rows,
    line,
    put_raw,
    stored,
)
from translator.event_parser import parse_event


def test_corrupt_objects_go_to_quarantine_and_the_good_events_land(store: LocalStore) -> None:
    hour = datetime(2026, 11, 25, 10)
    good = [stored(received=f"2026-11-25T10:00:0{n}.000Z") for n in range(3)]
    good_key = put_raw(store, good)
    many = [stored(received="2026-11-25T10:10:00.000Z") for _ in range(60)]
    whole = rawfile.encode(line(event) for event in many)
    truncated_key = raw_key(ORG, hour, "truncated")
    store.put(truncated_key, whole[: len(whole) * 2 // 3])
    survivors = zlib.decompressobj(wbits=31).decompress(whole[: len(whole) * 2 // 3]).count(b"\n")
    assert 0 < survivors < len(many)
    mixed = [stored(received="2026-11-25T10:20:00.000Z") for _ in range(2)]
    not_json_key = put_raw(store, [mixed[0], b'{"event_id": "oops', mixed[1]], hour=hour)
    invalid = stored(received="2026-11-25T10:30:00.000Z")
    bad_event = {**stored(received="2026-11-25T10:31:00.000Z"), "payload": {}}  # lacks position_ms
    invalid_key = put_raw(store, [invalid, bad_event], hour=hour)
    stranger_key = put_raw(store, [stored(received="2026-11-25T10:40:00.000Z", org="globex")], hour=hour)
    garbage_key = raw_key(ORG, hour, "garbage")
    store.put(garbage_key, b"this is not gzip")
    originals = {key: store.get(key) for key in (truncated_key, not_json_key, invalid_key, stranger_key,
                                                 garbage_key)}

    report = compact(store)

    assert all_rows(store) == expected_rows([*good, *many[:survivors], *mixed, invalid])
    assert list(store.list("raw/")) == [good_key]
    for key, data in originals.items():
        assert store.get(f"quarantine/{key}") == data  # moved aside untouched
    assert sorted(report.quarantined_objects) == sorted(originals)
    assert report.events_rejected == 4  # the cut line, the non-JSON one, the invalid one, the stranger
    records = [json.loads(store.get(key)) for key in store.list("audit/")]
    verdicts = {record["details"]["raw_key"]: record["details"] for record in records}
    assert {record["action"] for record in records} == {"raw.quarantined"}
    assert verdicts[truncated_key]["reason"] == "truncated_gzip"
    assert verdicts[truncated_key]["salvaged_events"] == survivors
    assert (verdicts[not_json_key]["reason"], verdicts[not_json_key]["line_number"]) == ("invalid_json", 2)
    assert (verdicts[invalid_key]["reason"], verdicts[invalid_key]["field"]) == (
        "invalid_event", "payload.position_ms")
    assert verdicts[stranger_key]["reason"] == "wrong_organization"
    assert verdicts[garbage_key]["reason"] == "bad_gzip"
    # Audit records describe the object, never its content.
    audit_text = b"".join(store.get(key) for key in store.list("audit/")).decode()
    everything = [*good, *many, *mixed, invalid, bad_event]
    for event in everything:
        assert event["event_id"] not in audit_text and event["session_id"] not in audit_text
    assert "ab" * 32 not in audit_text and "oops" not in audit_text
    # Nothing is quarantined twice, nothing redone.
    assert compact(store) == CompactionReport()


VALID_ODDITIES: dict[str, dict[str, Any]] = {
    "uppercase ids": {"event_id": str(uuid.uuid4()).upper()},
    "offset timestamp": {"occurred_at": "2026-11-25T12:00:00.123+02:00"},
    "microseconds": {"sent_at": "2026-11-25T10:00:00.123456Z"},
    "locale to normalise": {"locale": "ES_cl"},
    "long name": {"event_type": "cta.clicked", "payload": {"cta_id": "c", "cta_name": "n" * 90}},
    "unknown fields": {"future_field": 1, "payload": {"position_ms": 5, "extra": "x"}},
    "field of another type": {"event_type": "session.started", "payload": {"position_ms": 5}},
    "integral percent": {"event_type": "video.progressed", "payload": {"position_ms": 1, "percent": 50}},
    "device without is_bot": {"device": {"type": "desktop"}},
    "integral float": {"payload": {"position_ms": 12.0}},
}
INVALID_LINES: dict[str, dict[str, Any]] = {
    "event_id not a uuid": {"event_id": "not-a-uuid"},
    "session_id missing": {"session_id": None},
    "schema_version 2": {"schema_version": "2"},
    "unknown event_type": {"event_type": "video.exploded"},
    "occurred_at not a time": {"occurred_at": "yesterday"},
    "occurred_at without offset": {"occurred_at": "2026-11-25T10:00:00.000"},
    "received_at missing": {"received_at": None},
    "viewer_hash not hex": {"viewer_hash": "XYZ"},
    "country not a code": {"geo": {"country": "chile"}},
    "playback_id negative": {"playback_id": -1},
    "consent without tracking": {"consent": {"granted_at": None}},
    "device a string": {"device": "mobile"},
    "percent over 100": {"event_type": "video.progressed", "payload": {"position_ms": 1, "percent": 101}},
    "cta without id": {"event_type": "cta.clicked", "payload": {"cta_name": "x"}},
    "empty chapter id": {"event_type": "chapter.entered", "payload": {"chapter_id": ""}},
    "template_id too long": {"template_id": "t" * 129},
    "number as text": {"payload": {"position_ms": "12"}},
    "number as a boolean": {"payload": {"position_ms": True}},
    "percent as text": {"event_type": "video.progressed", "payload": {"position_ms": 1, "percent": "50"}},
    "tracking as text": {"consent": {"tracking": "true"}},
    "tracking as a number": {"consent": {"tracking": 1}},
    "time without seconds": {"occurred_at": "2026-11-25T10:00Z"},
    "two objects on a line": {},
    "array": {},
}


def _odd_line(changes: dict[str, Any], name: str, received: str) -> bytes:
    if name == "array":
        return b"[1, 2]"
    base = stored(received=received)
    if name == "two objects on a line":
        return line(base) + line(stored(received=received))
    return line({**base, **changes})


def test_the_fast_checks_agree_with_the_canonical_models(store: LocalStore) -> None:
    hour = datetime(2026, 11, 25, 10)
    keys: dict[str, str] = {}
    good: list[dict[str, Any]] = []
    for number, (name, changes) in enumerate({**VALID_ODDITIES, **INVALID_LINES}.items()):
        received = f"2026-11-25T10:{number:02d}:00.000Z"
        neighbour = stored(received=received)
        good.append(neighbour)
        odd = _odd_line(changes, name, received)
        if name in VALID_ODDITIES:  # what the models make of it is what must land
            good.append(json.loads(parse_event(json.loads(odd)).model_dump_json()))
        keys[name] = put_raw(store, [neighbour, odd], hour=hour)
    report = compact(store)
    assert sorted(report.quarantined_objects) == sorted(keys[name] for name in INVALID_LINES)
    assert all_rows(store) == expected_rows(good)


def test_the_fast_path_takes_stored_events_and_never_what_the_models_refuse() -> None:
    from pipeline.raw.reader import _fast  # the vectorised checks; the models are the authority

    plain = [line(stored(event_type)) for event_type in PAYLOADS]
    assert _fast(b"\n".join(plain) + b"\n", ORG) is not None
    for name, changes in INVALID_LINES.items():
        odd = _odd_line(changes, name, "2026-11-25T10:00:00.000Z")
        assert _fast(b"\n".join([*plain, odd]) + b"\n", ORG) is None, name
    assert _fast(b"\n".join(plain) + b"\n", "globex") is None
