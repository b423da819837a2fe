"""Per-organization webhooks (design document, Phase 3): an organization's curated events, POSTed in
signed batches to the endpoint it configured, retried with backoff, dead-lettered when they keep failing.

Source: the curated zone as the compactor commits it. For each curated day at or after the webhook's
`since`, a run compares the day's compactor manifest (pipeline/compaction_state.py, the commit record)
with the one it last looked at; for a changed day it reads the day's event-id index and takes the
events not yet put in the outbox (the `seen` index of that day and of the days within the compactor's
deduplication window on either side, so an event the compactor moves to an earlier copy in another
hour or day is not taken twice). Only events found in a curated file are marked seen, so one the index
lists ahead of its file is taken when its day next changes. The manifest is read before the index, and
the compactor writes the index before the manifest, so a day marked looked-at never hides a commit.

Outbox: batches of at most `batch_size` events (pipeline/_webhook_outbox.py), written before the seen
index and the cursor, under names fixed by what they hold, so a run cut short redoes the same batches
over the old ones. Each organization's batches go out oldest first, one at a time; a failed batch
holds back the later ones until it succeeds or is dead-lettered, so a failing endpoint gets one
request per retry, not a flood.

Delivery: `POST <url>` with `{"events": [...]}`, the canonical events (schema v1, as curated holds
them: keyed viewer ids, never an IP address or User-Agent, which are never stored) and the headers
`Percus-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (a second v1 for 24 hours after
a secret rotation), `Percus-Webhook-Id` (the batch id, the same on every attempt and after a redrive)
and `Percus-Webhook-Attempt`. A 2xx answer is success. Network errors, timeouts, 408, 429 and 5xx are
retried after `min(max_delay, base_delay * 2**(n-1))` seconds, times a random factor in [0.5, 1]
(longer when a Retry-After asks for it, up to max_delay); after `max_attempts` failed attempts, or at
once on any other status (a 4xx, or a redirect, which is never followed), the batch moves to
`state/webhooks/dead/org=<org>/` with a `webhook.dead_lettered` audit record, and the next batch goes.
At-least-once: a crash between a receiver's 2xx and the outbox delete, or a timeout after the receiver
has processed the request, sends a batch again, so receivers deduplicate by `event_id`.

Isolation: a run reads only `curated/org=<org>/` for an organization's batches, drops any row of
another organization, and signs with that organization's secret for that organization's URL.

Concurrency: a run holds `webhook_lock` (an fcntl lock beside the data on a local store); on S3 the
deployment runs the webhook Lambda with reserved concurrency 1.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, cast

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import ValidationError

from pipeline import audit, curated, layout
from pipeline._event_fields import ENVELOPE_FIELDS, PAYLOAD_FIELDS
from pipeline._webhook_outbox import (
    Batch,
    Cursor,
    dead_prefix,
    load_batch,
    org_prefix,
    outbox_prefix,
    read_seen,
    save_batch,
    save_seen,
)
from pipeline.compaction_state import compacted_days, manifest_bytes, read_ids
from pipeline.compactor import DEDUP_WINDOW
from pipeline.layout import curated_key
from pipeline.organizations import OrganizationRegistry, Webhook, webhook_host
from pipeline.store.base import Store
from pipeline.store_lock import Busy, store_lock
from pipeline.webhook_signatures import SIGNATURE_HEADER, signature_header
from translator.canonical import EVENT_MODELS, format_timestamp

log = logging.getLogger("percus.webhooks")

ID_HEADER = "Percus-Webhook-Id"
ATTEMPT_HEADER = "Percus-Webhook-Attempt"
USER_AGENT = "Percus-Webhooks/1"
_NEIGHBOUR_DAYS = -(-DEDUP_WINDOW // timedelta(days=1))  # days another copy of an event may sit away
_HOUR_LABEL = "%Y-%m-%dT%H"


# -- policy ------------------------------------------------------------------------------------------

_ENV = {"PERCUS_WEBHOOK_MAX_ATTEMPTS": ("max_attempts", int),
        "PERCUS_WEBHOOK_BASE_DELAY": ("base_delay", float), "PERCUS_WEBHOOK_MAX_DELAY": ("max_delay", float),
        "PERCUS_WEBHOOK_TIMEOUT": ("timeout", float), "PERCUS_WEBHOOK_BATCH_SIZE": ("batch_size", int)}
_ORDER = [("received_at", "ascending"), ("event_id", "ascending")]


@dataclass(frozen=True)
class WebhookPolicy:
    max_attempts: int = 8  # failed attempts before a batch is dead-lettered
    base_delay: float = 60.0  # seconds before the first retry; doubled for each further one
    max_delay: float = 3600.0  # defaults: 1, 2, 4, 8, 16, 32, 60 min (x 0.5-1): the 8th try 1-2 h on
    timeout: float = 10.0  # seconds for connecting, sending and for the answer
    batch_size: int = 500  # events per request
    workers: int = 4  # organizations delivered to at the same time

    def __post_init__(self) -> None:
        for name in ("max_attempts", "batch_size", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"webhook {name} must be at least 1")
        if not 0 < self.base_delay <= self.max_delay or self.timeout <= 0:
            raise ValueError("webhook delays and timeout must be positive, base_delay <= max_delay")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebhookPolicy:
        """The defaults, with PERCUS_WEBHOOK_MAX_ATTEMPTS, _BASE_DELAY, _MAX_DELAY, _TIMEOUT (seconds)
        and _BATCH_SIZE where set."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, (attribute, kind) in _ENV.items():
            if env.get(name):
                try:
                    values[attribute] = kind(env[name])
                except ValueError:
                    raise ValueError(f"{name} must be a number, not {env[name]!r}") from None
        return cls(**values)

    def delay(self, failures: int, jitter: float) -> float:
        """Seconds to wait after the `failures`-th failed attempt; `jitter` is uniform in [0, 1)."""
        full: float = min(self.max_delay, self.base_delay * 2 ** (failures - 1))  # int ** int: Any
        return full / 2 + full / 2 * jitter


# -- signing secrets ---------------------------------------------------------------------------------


def signing_secrets(webhook: Webhook, now: float) -> list[str]:
    """The current secret, and the one it replaced while its overlap lasts."""
    secrets = [webhook.secret]
    expires = webhook.previous_secret_expires_at
    if webhook.previous_secret and expires is not None and expires.timestamp() > now:
        secrets.append(webhook.previous_secret)
    return secrets


# -- reports and the lock ----------------------------------------------------------------------------


@dataclass
class OrgReport:
    events_collected: int = 0  # put in the outbox by this run
    batches_collected: int = 0
    batches_delivered: int = 0
    events_delivered: int = 0
    failed_attempts: int = 0
    dead_lettered: list[str] = field(default_factory=list)  # batch ids
    events_gone: int = 0  # named by a batch, deleted before it was sent (DSAR, retention)
    pending: int = 0  # batches left in the outbox
    error: str | None = None  # the run failed for this organization (the others carry on)


@dataclass
class WebhookReport:
    organizations: dict[str, OrgReport] = field(default_factory=dict)

    def total(self, name: str) -> int:
        values = [getattr(report, name) for report in self.organizations.values()]
        return sum(len(value) if isinstance(value, list) else value for value in values)


class WebhooksBusy(Busy):
    """Another process is delivering webhooks from this store and the caller chose not to wait."""


def webhook_lock(store: Store, *, wait: bool = True) -> contextlib.AbstractContextManager[None]:
    """Exclusive right to the webhook state (local stores only; on S3 one Lambda runs at a time)."""
    return store_lock(store, layout.WEBHOOKS_LOCK, WebhooksBusy, "another webhook run is using this store",
                      wait=wait)


# -- a run -------------------------------------------------------------------------------------------


def run(store: Store, registry: OrganizationRegistry | None = None, *, orgs: Sequence[str] | None = None,
        policy: WebhookPolicy | None = None, client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time, jitter: Callable[[], float] = random.random,
        budget: float | None = None, wait: bool = True, actor: str | None = None) -> WebhookReport:
    """Collect and deliver for every organization with an enabled webhook (or those of `orgs`).

    `clock` (epoch seconds) stamps signatures and schedules retries; `budget` (seconds of real time)
    stops starting requests once spent, leaving the rest to the next run. `wait=False` raises
    WebhooksBusy instead of waiting for a running delivery.
    """
    registry = registry if registry is not None else OrganizationRegistry(store, cache_seconds=0)
    policy = policy if policy is not None else WebhookPolicy()
    targets = [(record.organization_id, record.webhook) for record in registry.list()
               if record.webhook is not None and record.webhook.enabled
               and (orgs is None or record.organization_id in orgs)]
    report = WebhookReport()
    if not targets:
        return report
    deadline = None if budget is None else time.monotonic() + budget
    with webhook_lock(store, wait=wait):
        for org, webhook in targets:
            org_report = report.organizations[org] = OrgReport()
            try:
                collect(store, org, webhook, batch_size=policy.batch_size, report=org_report)
            except Exception as exc:  # one organization's broken state must not stop the others
                log.exception("webhook collection failed for %s", org)
                org_report.error = f"collect: {type(exc).__name__}"
        own_client = client is None
        if client is None:
            client = httpx.Client(timeout=policy.timeout, follow_redirects=False)
        sender = _Sender(store, policy, client, clock, jitter, deadline, actor)

        def deliver(target: tuple[str, Webhook]) -> None:
            org, webhook = target
            sender.deliver(org, webhook, report.organizations[org])

        try:
            with ThreadPoolExecutor(max_workers=min(policy.workers, len(targets)),
                                    thread_name_prefix="webhook") as pool:
                list(pool.map(deliver, targets))
        finally:
            if own_client:
                client.close()
    return report


# -- collection: curated -> outbox -------------------------------------------------------------------


def _read_curated(store: Store, key: str, columns: list[str] | None = None) -> pa.Table | None:
    try:
        data = store.get(key)
    except KeyError:
        return None
    table = pq.read_table(pa.BufferReader(data))
    return curated.conform(table) if columns is None else curated.conform(table).select(columns)


def collect(store: Store, org: str, webhook: Webhook, *, batch_size: int = 500,
            report: OrgReport | None = None) -> OrgReport:
    """Put the organization's newly committed curated events (received from `webhook.since` on) in
    its outbox; see the module docstring."""
    report = report if report is not None else OrgReport()
    since = webhook.since.astimezone(UTC)
    cursor = Cursor(store, org)
    if cursor.since != since.isoformat():
        # A new `since`: look at every day again; the seen indexes keep what was sent from going twice.
        cursor.since, cursor.days = since.isoformat(), {}
    days = compacted_days(store, org)
    present = set(days)
    for key in list(store.list(org_prefix(org) + "seen/")):  # days retention removed from curated
        with contextlib.suppress(ValueError):
            if date.fromisoformat(key.rsplit("date=", 1)[-1].removesuffix(".parquet")) not in present:
                store.delete(key)
    seen: dict[date, pa.Array] = {}
    for day in (day for day in days if day >= since.date()):
        manifest = manifest_bytes(store, org, day)
        if manifest is None:
            continue
        fingerprint = hashlib.sha256(manifest).hexdigest()
        if cursor.days.get(day.isoformat()) == fingerprint:
            continue
        _collect_day(store, org, day, since, fingerprint, seen, batch_size, report)
        cursor.days = {name: value for name, value in cursor.days.items()
                       if date.fromisoformat(name) in present}
        cursor.days[day.isoformat()] = fingerprint
        cursor.save()
    return report


def _first_per_event(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in order, without later rows of an event already listed."""
    taken: set[str] = set()
    kept = []
    for row in rows:
        if row["event_id"] not in taken:
            taken.add(row["event_id"])
            kept.append(row)
    return kept


def _seen(store: Store, org: str, day: date, cache: dict[date, pa.Array]) -> pa.Array:
    if day not in cache:
        cache[day] = read_seen(store, org, day)
    return cache[day]


def _collect_day(store: Store, org: str, day: date, since: datetime, fingerprint: str,
                 seen: dict[date, pa.Array], batch_size: int, report: OrgReport) -> None:
    ids = read_ids(store, org, day)  # read after the manifest: at least as new as it
    ids = ids.filter(pc.greater_equal(ids.column("received_at"), pa.scalar(since, curated.TIMESTAMP)))
    around = [_seen(store, org, day + timedelta(days=k), seen)
              for k in range(-_NEIGHBOUR_DAYS, _NEIGHBOUR_DAYS + 1)]
    known = pa.concat_arrays(around)
    if len(known):
        ids = ids.filter(pc.invert(pc.is_in(ids.column("event_id"), value_set=known)))
    if ids.num_rows == 0:
        return
    found = []
    for hour in sorted(set(ids.column("hour").to_pylist())):
        wanted = ids.filter(pc.equal(ids.column("hour"), hour)).column("event_id").combine_chunks()
        at = datetime(day.year, day.month, day.day, hour)
        table = _read_curated(store, curated_key(org, at), ["event_id", "received_at", "organization_id"])
        if table is None:
            continue
        mask = pc.and_(pc.and_(pc.is_in(table.column("event_id"), value_set=wanted),
                               pc.equal(table.column("organization_id"), org)),
                       pc.greater_equal(table.column("received_at"), pa.scalar(since, curated.TIMESTAMP)))
        rows = table.filter(mask).select(["event_id", "received_at"])
        found.append(rows.append_column("hour", pa.array([f"{at:{_HOUR_LABEL}}"] * rows.num_rows,
                                                         pa.string())))
    if not found:
        return
    rows = pa.concat_tables(found)
    rows = rows.take(pc.sort_indices(rows, sort_keys=_ORDER))
    unique = _first_per_event(rows.to_pylist())
    for number, start in enumerate(range(0, len(unique), batch_size)):
        chunk = unique[start:start + batch_size]
        first: datetime = chunk[0]["received_at"]
        batch_id = f"{first:%Y%m%dT%H%M%S}{first.microsecond // 1000:03d}Z-{fingerprint[:12]}-{number:04d}"
        event_ids: dict[str, list[str]] = {}
        for row in chunk:
            event_ids.setdefault(row["hour"], []).append(row["event_id"])
        save_batch(store, f"{outbox_prefix(org)}{batch_id}.json",
                   Batch(batch_id=batch_id, organization_id=org, created_at=datetime.now(UTC),
                         event_ids=event_ids, event_count=len(chunk)))
        report.batches_collected += 1
    report.events_collected += len(unique)
    seen[day] = pa.concat_arrays([_seen(store, org, day, seen),
                                  pa.array([row["event_id"] for row in unique], pa.string())])
    save_seen(store, org, day, seen[day])


# -- delivery: outbox -> endpoint --------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    delivered: bool = False
    error: str | None = None
    permanent: bool = False
    retry_after: float | None = None


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


class _Sender:
    def __init__(self, store: Store, policy: WebhookPolicy, client: httpx.Client, clock: Callable[[], float],
                 jitter: Callable[[], float], deadline: float | None, actor: str | None) -> None:
        self.store = store
        self.policy = policy
        self.client = client
        self.clock = clock
        self.jitter = jitter
        self.deadline = deadline
        self.actor = actor

    def deliver(self, org: str, webhook: Webhook, report: OrgReport) -> None:
        try:
            self._deliver(org, webhook, report)
        except Exception as exc:  # the store failed, say: the batch stays, the next run retries it
            log.exception("webhook delivery failed for %s", org)
            report.error = f"deliver: {type(exc).__name__}"
        report.pending = sum(1 for _ in self.store.list(outbox_prefix(org)))

    def _deliver(self, org: str, webhook: Webhook, report: OrgReport) -> None:
        tables: dict[str, pa.Table | None] = {}  # curated files read for this organization's batches
        for key in list(self.store.list(outbox_prefix(org))):
            if self.deadline is not None and time.monotonic() > self.deadline:
                return
            batch = load_batch(self.store, key)
            now = self.clock()
            if batch.next_attempt_at is not None and batch.next_attempt_at > now:
                return  # the oldest batch is waiting for its retry: the later ones wait behind it
            events = self._events(org, batch, tables)
            report.events_gone += batch.event_count - len(events)
            if not events:
                self.store.delete(key)
                continue
            outcome = self._post(webhook, batch, events, now)
            if outcome.delivered:
                self.store.delete(key)
                report.batches_delivered += 1
                report.events_delivered += len(events)
                log.info("webhook %s: batch %s delivered to %s (%d events, attempt %d)", org, batch.batch_id,
                         webhook_host(webhook.url), len(events), batch.attempts + 1)
                continue
            batch.attempts += 1
            batch.last_error = outcome.error
            batch.history = [*batch.history, f"{format_timestamp(datetime.fromtimestamp(now, UTC))} "
                             f"{outcome.error}"][-20:]
            report.failed_attempts += 1
            if outcome.permanent or batch.attempts >= self.policy.max_attempts:
                self._dead_letter(org, webhook, key, batch, now, "permanent" if outcome.permanent
                                  else "attempts_exhausted")
                report.dead_lettered.append(batch.batch_id)
                continue
            delay = self.policy.delay(batch.attempts, self.jitter())
            if outcome.retry_after is not None:
                delay = max(delay, min(outcome.retry_after, self.policy.max_delay))
            batch.next_attempt_at = now + delay
            save_batch(self.store, key, batch)
            log.warning("webhook %s: batch %s to %s failed (%s), attempt %d of %d; next in %.0f s", org,
                        batch.batch_id, webhook_host(webhook.url), outcome.error, batch.attempts,
                        self.policy.max_attempts, delay)
            return

    def _post(self, webhook: Webhook, batch: Batch, events: list[dict[str, Any]], now: float) -> _Outcome:
        body = json.dumps({"events": events}, separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = int(now)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   SIGNATURE_HEADER: signature_header(signing_secrets(webhook, now), timestamp, body),
                   ID_HEADER: batch.batch_id, ATTEMPT_HEADER: str(batch.attempts + 1)}
        try:
            response = self.client.post(webhook.url, content=body, headers=headers,
                                        timeout=self.policy.timeout, follow_redirects=False)
        except httpx.TimeoutException as exc:
            return _Outcome(error=f"timeout ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return _Outcome(error=f"network ({type(exc).__name__})")
        status = response.status_code
        if 200 <= status < 300:
            return _Outcome(delivered=True)
        retryable = status in (408, 429) or status >= 500
        retry_after = _retry_after(response.headers.get("Retry-After"), now) if retryable else None
        return _Outcome(error=f"HTTP {status}", permanent=not retryable, retry_after=retry_after)

    def _dead_letter(self, org: str, webhook: Webhook, key: str, batch: Batch, now: float,
                     reason: str) -> None:
        batch.dead_at = datetime.fromtimestamp(now, UTC)
        batch.dead_reason = reason
        batch.next_attempt_at = None
        save_batch(self.store, f"{dead_prefix(org)}{batch.batch_id}.json", batch)  # first: nothing is lost
        audit.record(self.store, "webhook.dead_lettered", {"organization_id": org},
                     {"batch_id": batch.batch_id, "event_count": batch.event_count,
                      "attempts": batch.attempts, "reason": reason, "last_error": batch.last_error,
                      "webhook_host": webhook_host(webhook.url)},
                     actor=self.actor)
        self.store.delete(key)
        log.error("webhook %s: batch %s dead-lettered after %d attempts (%s, last %s)", org, batch.batch_id,
                  batch.attempts, reason, batch.last_error)

    def _curated(self, org: str, hour: datetime, tables: dict[str, pa.Table | None]) -> pa.Table | None:
        key = curated_key(org, hour)
        if key not in tables:
            while len(tables) >= 4:  # a few hour files at a time: batches mostly follow each other
                del tables[next(iter(tables))]
            tables[key] = _read_curated(self.store, key)
        return tables[key]

    def _events(self, org: str, batch: Batch, tables: dict[str, pa.Table | None]) -> list[dict[str, Any]]:
        """The batch's events as curated holds them now (an event gone from curated is left out)."""
        parts, missing = [], set()
        for label, event_ids in batch.event_ids.items():
            hour = datetime.strptime(label, _HOUR_LABEL)
            table = self._curated(org, hour, tables)
            wanted = pa.array(event_ids, pa.string())
            rows = table.filter(pc.is_in(table.column("event_id"), value_set=wanted)) if table else None
            got = set(rows.column("event_id").to_pylist()) if rows is not None else set()
            missing |= set(event_ids) - got
            if rows is not None and rows.num_rows:
                parts.append(rows)
        if missing:  # moved to another hour by a later, earlier-received copy: find it there
            parts.extend(self._moved(org, batch, missing, tables))
        if not parts:
            return []
        table = pa.concat_tables(parts)
        own = table.filter(pc.equal(table.column("organization_id"), org))
        if own.num_rows != table.num_rows:  # cannot happen through the layout; never send it if it does
            log.error("webhook %s: %d rows of another organization in its curated files left out", org,
                      table.num_rows - own.num_rows)
        own = own.take(pc.sort_indices(own, sort_keys=_ORDER))
        return [canonical_event(row) for row in _first_per_event(own.to_pylist())]

    def _moved(self, org: str, batch: Batch, missing: set[str], tables: dict[str, pa.Table | None]
               ) -> list[pa.Table]:
        days = {datetime.strptime(label, _HOUR_LABEL).date() for label in batch.event_ids}
        around = sorted({day + timedelta(days=k) for day in days
                         for k in range(-_NEIGHBOUR_DAYS, _NEIGHBOUR_DAYS + 1)})
        wanted = pa.array(sorted(missing), pa.string())
        parts = []
        for day in around:
            ids = read_ids(self.store, org, day)
            hits = ids.filter(pc.is_in(ids.column("event_id"), value_set=wanted))
            for hour in sorted(set(hits.column("hour").to_pylist())):
                table = self._curated(org, datetime(day.year, day.month, day.day, hour), tables)
                if table is not None:
                    parts.append(table.filter(pc.is_in(table.column("event_id"), value_set=wanted)))
        return parts


# -- the canonical shape of a curated row ------------------------------------------------------------

_PAYLOAD_COLUMNS: dict[str, list[str]] = {}
for _field in PAYLOAD_FIELDS:
    _PAYLOAD_COLUMNS.setdefault(_field.event_type or "", []).append(_field.path[1])


def canonical_event(row: Mapping[str, Any]) -> dict[str, Any]:
    """A curated row (pipeline/curated.py) as the canonical v1 event it was stored from."""
    data: dict[str, Any] = {}
    for event_field in ENVELOPE_FIELDS:
        value = row.get(curated.column_name(event_field))
        if len(event_field.path) == 1:
            data[event_field.path[0]] = value
        else:
            data.setdefault(event_field.path[0], {})[event_field.path[1]] = value
    for name, value in list(data.items()):
        if isinstance(value, dict) and all(item is None for item in value.values()):
            data[name] = None  # the object was absent (a default such as is_bot is set only within it)
    event_type = row["event_type"]
    data["event_type"] = event_type
    data["payload"] = {name: row.get(name) for name in _PAYLOAD_COLUMNS.get(event_type, [])}
    try:
        return EVENT_MODELS[event_type].model_validate(data).model_dump(mode="json")
    except (KeyError, ValidationError):  # a row from an older schema: send it as it is rather than not
        text = json.dumps(data, default=lambda value: format_timestamp(value)
                          if isinstance(value, datetime) else str(value))
        return cast(dict[str, Any], json.loads(text))  # the JSON of a dict


# -- dead letters ------------------------------------------------------------------------------------


def dead_letters(store: Store, org: str | None = None) -> list[Batch]:
    """Dead-lettered batches (of one organization), oldest first per organization."""
    return [load_batch(store, key) for key in store.list(dead_prefix(org))]


def pending(store: Store, org: str) -> list[Batch]:
    """The batches in an organization's outbox, in the order they go out."""
    return [load_batch(store, key) for key in store.list(outbox_prefix(org))]


def redrive(store: Store, org: str, batch_ids: Sequence[str] | None = None, *, actor: str | None = None
            ) -> list[str]:
    """Put dead-lettered batches of `org` (all, or those named) back in its outbox with fresh attempts;
    returns their ids. They go out at their place in the outbox (by the time of their first event)."""
    with webhook_lock(store):
        dead = {batch.batch_id: batch for batch in dead_letters(store, org)}
        unknown = sorted(set(batch_ids or ()) - set(dead))
        if unknown:
            raise ValueError(f"no dead-lettered batch {', '.join(unknown)} for {org!r} "
                             "(list them with `percus webhook dead-letters`)")
        chosen = [dead[batch_id] for batch_id in (batch_ids if batch_ids is not None else sorted(dead))]
        for batch in chosen:
            batch.attempts, batch.next_attempt_at, batch.last_error = 0, None, None
            batch.dead_at, batch.dead_reason = None, None
            batch.redriven += 1
            save_batch(store, f"{outbox_prefix(org)}{batch.batch_id}.json", batch)
            store.delete(f"{dead_prefix(org)}{batch.batch_id}.json")
        if chosen:
            audit.record(store, "webhook.redriven", {"organization_id": org},
                         {"batch_ids": [batch.batch_id for batch in chosen], "batches": len(chosen),
                          "event_count": sum(batch.event_count for batch in chosen)}, actor=actor)
        return [batch.batch_id for batch in chosen]

