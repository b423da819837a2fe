"""The append-only audit log: one small JSON object per action, under `audit/` in the store.

Key: `audit/year=YYYY/month=MM/day=DD/<HHMMSS.mmm>Z-<action>-<random>.json`, so records list in time
order and none ever overwrites another. A record says what was done to which scope (organization,
partition, object key) and with what counts; it never holds event content or viewer identifiers,
and `record` refuses values that could carry them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from pipeline.store.base import Store
from translator.canonical import VIEWER_IDENTIFIERS, format_timestamp

_ACTION = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
# Names under which personal data would travel; a record must describe actions, not people.
_PERSONAL = frozenset({*VIEWER_IDENTIFIERS, "session_id", "ip", "ip_address", "user_agent", "email",
                       "event", "events", "payload", "line", "body"})
Scalar = str | int | float | bool | None


def _check(what: str, values: Mapping[str, object]) -> None:
    for name, value in values.items():
        if name.lower() in _PERSONAL:
            raise ValueError(f"audit {what} must not hold {name!r}: records carry no personal data")
        items = value if isinstance(value, list | tuple) else [value]
        if not all(isinstance(item, Scalar) for item in items):
            raise ValueError(f"audit {what} {name!r} must be a scalar or a list of scalars")


def record(store: Store, action: str, scope: Mapping[str, object], details: Mapping[str, object],
           *, now: datetime | None = None) -> str:
    """Append one audit record; returns its key."""
    if not _ACTION.match(action):
        raise ValueError(f"audit action {action!r} must be lowercase letters, digits, '_', '-', '.'")
    _check("scope", scope)
    _check("details", details)
    at = (now or datetime.now(UTC)).astimezone(UTC)
    key = (f"audit/year={at:%Y}/month={at:%m}/day={at:%d}/{at:%H%M%S}.{at.microsecond // 1000:03d}Z-"
           f"{action}-{uuid.uuid4().hex}.json")
    body = {"at": format_timestamp(at), "action": action, "scope": dict(scope), "details": dict(details)}
    store.put(key, json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    return key
