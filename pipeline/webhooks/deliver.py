"""Delivery, outbox -> endpoint: each organization's batches POSTed oldest first, one at a time (a failing
batch holds back the later ones, so a failing endpoint gets one request per retry), signed with that
organization's secrets, retried with backoff, dead-lettered when they keep failing. At least once: a
receiver deduplicates by `event_id`. The request is specified in docs/api.md ("Webhooks")."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.curated.commits import read_ids
from pipeline.governance import audit
from pipeline.governance.registry import Webhook, webhook_host
from pipeline.layout import curated_key
from pipeline.store.base import Store
from pipeline.webhooks.addresses import IPAddress, RefusedAddress, resolve
from pipeline.webhooks.curated_rows import (
    NEIGHBOUR_DAYS,
    ORDER,
    canonical_event,
    first_per_event,
    python_rows,
    read_curated,
)
from pipeline.webhooks.outbox import HOUR_LABEL, Batch, dead_prefix, load_batch, outbox_prefix, save_batch
from pipeline.webhooks.policy import WebhookPolicy, signing_secrets
from pipeline.webhooks.reports import OrgReport
from pipeline.webhooks.signatures import SIGNATURE_HEADER, signature_header
from translator.canonical import format_timestamp

log = logging.getLogger("percus.webhooks")

ID_HEADER = "Percus-Webhook-Id"
ATTEMPT_HEADER = "Percus-Webhook-Attempt"
USER_AGENT = "Percus-Webhooks/1"
_PORTS = {"http": 80, "https": 443}
_SET_ASIDE = "-unconvertible"  # the id of a batch's events set aside: the batch's, with this added once


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


class Sender:
    """Sends organizations' outboxes for one run (one organization per call, several at a time)."""

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
            events, unconvertible = self._events(org, batch, tables)
            if unconvertible:
                batch = self._set_aside(org, webhook, key, batch, unconvertible, now, report)
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
        try:
            url = httpx.URL(webhook.url)
        except httpx.InvalidURL:  # the registry's parser took it, the client's does not: it never will
            return _Outcome(error="invalid URL", permanent=True)
        host = url.raw_host.decode("ascii")
        try:
            addresses = resolve(host, url.port or _PORTS[url.scheme], allow_loopback=webhook.allow_loopback)
        except RefusedAddress as exc:  # set before the check, or a name that now resolves elsewhere
            return _Outcome(error=f"refused address ({exc.kind})")
        except OSError as exc:
            return _Outcome(error=f"network ({type(exc).__name__})")
        body = json.dumps({"events": events}, separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = int(now)
        # Pinned: the client dials the addresses just checked and never resolves the name itself (an
        # answer that changed in between would dial an address nobody checked). The name still goes in
        # the Host header and in TLS (SNI), where the certificate is verified against it.
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Host": url.netloc.decode(),
                   SIGNATURE_HEADER: signature_header(signing_secrets(webhook, now), timestamp, body),
                   ID_HEADER: batch.batch_id, ATTEMPT_HEADER: str(batch.attempts + 1)}
        try:
            response = self._dial(url, addresses, content=body, headers=headers, timeout=self.policy.timeout,
                                  follow_redirects=False,
                                  extensions={"sni_hostname": host} if url.scheme == "https" else {})
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

    def _dial(self, url: httpx.URL, addresses: list[IPAddress], **request: Any) -> httpx.Response:
        """POST to each address in turn until one takes the connection, as the client does with a name."""
        for address in addresses[:-1]:
            with contextlib.suppress(httpx.ConnectError):
                return self.client.post(url.copy_with(host=str(address)), **request)
        return self.client.post(url.copy_with(host=str(addresses[-1])), **request)

    def _set_aside(self, org: str, webhook: Webhook, key: str, batch: Batch, event_ids: set[str],
                   now: float, report: OrgReport) -> Batch:
        """Dead-letter the events of `batch` whose rows have no Python values as a batch of their own
        (a redrive sends them again once the rows are mended), and keep the rest in the outbox."""
        def named(unconvertible: bool) -> dict[str, list[str]]:  # the batch's ids that are (not) among them
            return {hour: chosen for hour, ids in batch.event_ids.items()
                    if (chosen := [event_id for event_id in ids if (event_id in event_ids) == unconvertible])}

        aside = Batch(batch_id=batch.batch_id.removesuffix(_SET_ASIDE) + _SET_ASIDE, organization_id=org,
                      created_at=batch.created_at, event_ids=named(True), event_count=len(event_ids),
                      last_error="row not convertible")
        self._dead_letter(org, webhook, None, aside, now, "unconvertible")
        report.dead_lettered.append(aside.batch_id)
        rest = batch.model_copy(update={"event_ids": named(False),
                                        "event_count": batch.event_count - len(event_ids)})
        save_batch(self.store, key, rest)
        return rest

    def _dead_letter(self, org: str, webhook: Webhook, key: str | None, batch: Batch, now: float,
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
        if key is not None:
            self.store.delete(key)
        log.error("webhook %s: batch %s dead-lettered after %d attempts (%s, last %s)", org, batch.batch_id,
                  batch.attempts, reason, batch.last_error)

    def _curated(self, org: str, hour: datetime, tables: dict[str, pa.Table | None]) -> pa.Table | None:
        key = curated_key(org, hour)
        if key not in tables:
            while len(tables) >= 4:  # a few hour files at a time: batches mostly follow each other
                del tables[next(iter(tables))]
            tables[key] = read_curated(self.store, key)
        return tables[key]

    def _events(self, org: str, batch: Batch, tables: dict[str, pa.Table | None]
                ) -> tuple[list[dict[str, Any]], set[str]]:
        """The batch's events as curated holds them now (an event gone from curated is left out), and
        the ids of those whose rows have no Python values."""
        parts, missing = [], set()
        for label, event_ids in batch.event_ids.items():
            hour = datetime.strptime(label, HOUR_LABEL)
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
            return [], set()
        table = pa.concat_tables(parts)
        own = table.filter(pc.equal(table.column("organization_id"), org))
        if own.num_rows != table.num_rows:  # cannot happen through the layout; never send it if it does
            log.error("webhook %s: %d rows of another organization in its curated files left out", org,
                      table.num_rows - own.num_rows)
        rows, unconvertible = python_rows(first_per_event(own.take(pc.sort_indices(own, sort_keys=ORDER))))
        return [canonical_event(row) for row in rows], set(unconvertible.column("event_id").to_pylist())

    def _moved(self, org: str, batch: Batch, missing: set[str], tables: dict[str, pa.Table | None]
               ) -> list[pa.Table]:
        days = {datetime.strptime(label, HOUR_LABEL).date() for label in batch.event_ids}
        around = sorted({day + timedelta(days=k) for day in days
                         for k in range(-NEIGHBOUR_DAYS, NEIGHBOUR_DAYS + 1)})
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
