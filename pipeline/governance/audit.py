"""The append-only audit log: one small JSON object per action under `audit/`, keyed by time so records
list in order and none overwrites another. `record` refuses values that could carry event content or
viewer ids; `list_records` reads them back (`percus audit list`). The actions and who writes them:
docs/operations.md (Audit log).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

from pipeline import layout
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
           *, now: datetime | None = None, actor: str | None = None) -> str:
    """Append one audit record; returns its key. `actor` says who asked (`cli:<user>`, `serve`,
    `lambda:<function>`); a record without one was written by the pipeline on its own."""
    if not _ACTION.fullmatch(action):
        raise ValueError(f"audit action {action!r} must be lowercase letters, digits, '_', '-', '.'")
    _check("scope", scope)
    _check("details", details)
    at = (now or datetime.now(UTC)).astimezone(UTC)
    key = f"{layout.audit_key_time(at)}-{action}-{uuid.uuid4().hex}.json"
    body = {"at": format_timestamp(at), "action": action, "scope": dict(scope), "details": dict(details)}
    if actor is not None:
        body["actor"] = actor[:128]
    # Never over another record (a random key makes a clash all but impossible; the store refuses it).
    store.create(key, json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    return key


def list_records(store: Store, *, org: str | None = None, action: str | None = None,
                 since: datetime | date | None = None) -> Iterator[dict[str, Any]]:
    """Records in time order: of one organization (its scope's organization_id), of one action or
    family (`dsar` matches `dsar.completed`), at or after `since` (a date means its midnight UTC;
    a naive time is UTC). Time and action are read from the keys, so only matching records are fetched."""
    start = None
    if since is not None:
        if not isinstance(since, datetime):
            since = datetime(since.year, since.month, since.day, tzinfo=UTC)
        start = layout.audit_key_time((since if since.tzinfo else since.replace(tzinfo=UTC)).astimezone(UTC))
    for key in store.list(layout.AUDIT.prefix):
        if start is not None and key < start:
            continue
        name = key.rsplit("/", 1)[-1].removesuffix(".json")
        key_action = name.partition("Z-")[2].rpartition("-")[0]
        if action is not None and key_action != action and not key_action.startswith(f"{action}."):
            continue
        body: dict[str, Any] = json.loads(store.get(key))
        if org is not None and body["scope"].get("organization_id") != org:
            continue
        yield body
