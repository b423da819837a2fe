"""The periodic pipeline steps `percus serve` runs beside the gateway on the embedded default.

Each tick compacts what the writer landed, sends organizations' webhooks what that committed, and
rolls up the days it touched; once an hour it also deletes what is past its retention. Between
ticks, the writer's nudge compacts what it landed, so a posted event shows in reports within
seconds. A step that finds another compaction running (`percus compact`, `percus dsar delete` on
the same data dir) skips instead of waiting: the other run does the same work, or the next tick
does. With a mailer (`percus serve` passes the configured one), it also sends the weekly digest of
opted-in organizations.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pipeline import layout
from pipeline.curated.compactor import CompactionBusy, compact
from pipeline.freshness import freshness_seconds
from pipeline.governance.registry import OrganizationRegistry
from pipeline.governance.retention import apply_retention
from pipeline.mail.base import Mailer
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.reporting.digest import due_week, send_due
from pipeline.reporting.rollups import build_rollups
from pipeline.store.base import Store
from pipeline.webhooks.run import WebhooksBusy
from pipeline.webhooks.run import run as run_webhooks

log = logging.getLogger("percus.background")

DEFAULT_INTERVAL = 15.0  # seconds between ticks (every step)
# Compaction also runs as soon as the writer lands raw objects (`nudge`), so reports are fresh within
# seconds, but busy at most COMPACTION_DUTY of the time: a run that took d seconds is followed by a
# quiet d * (1 - duty) / duty (4 d), and at least LANDED_GAP. Under load each run rewrites the
# current hours whole and takes longer, so it runs less often (as the 15 s tick did, at worst).
COMPACTION_DUTY = 0.2
LANDED_GAP = 0.5
POLL = 0.25  # seconds between looks at `stop` and at a nudge
RETENTION_EVERY = timedelta(hours=1)  # partitions expire by the day: hourly is prompt enough
RETENTION_RUN = layout.RETENTION_RUN  # kept in the store: restarts do not rerun it
DIGEST_EVERY = timedelta(minutes=15)  # how often due digests are looked for (and failed ones retried)
DIGEST_RUN = layout.DIGEST_RUN
WEBHOOK_BUDGET = 30.0  # seconds of requests per tick at most, so a slow endpoint delays no other step long


class PipelineLoop:
    """`freshness`, when given, is handed the freshness of the events each compaction counted
    (pipeline/freshness.py); `waiting`, when given, is told since when landed raw objects have waited
    for a compaction (time.monotonic(), None when none wait; what landed before this process started
    counts from its first compaction) at the start and whenever that changes: the gateway processes
    compute the compaction lag from it (Metrics.compaction_waiting)."""

    def __init__(self, store: Store, *, interval: float = DEFAULT_INTERVAL,
                 steps: tuple[Callable[[Store], None], ...] | None = None, mailer: Mailer | None = None,
                 landed: Callable[[Store], None] | None = None,
                 freshness: Callable[[list[float]], None] | None = None,
                 waiting: Callable[[float | None], None] | None = None) -> None:
        self.store = store
        self.interval = interval
        self._compact = compaction(freshness) if freshness is not None else compact_step
        self.steps = steps if steps is not None else (self._compact, webhook_step, rollup_step,
                                                      retention_step)
        if mailer is not None and steps is None:
            self.steps += (digest_step(mailer),)
        self.landed = landed or self._compact  # what a nudge runs
        self._nudged = threading.Event()
        self._quiet_until = 0.0
        self._lag_lock = threading.Lock()
        self._landings = 0  # nudges so far
        self._landed_since: float | None = None  # monotonic time of the oldest landing not compacted
        self._waiting = waiting
        if waiting is not None:
            waiting(None)

    def nudge(self) -> None:
        """The writer landed raw objects: run `landed` (compaction) soon, not at the next tick."""
        with self._lag_lock:
            self._landings += 1
            if self._landed_since is None:
                self._landed(time.monotonic())
        self._nudged.set()

    def run(self, stop: threading.Event) -> None:
        due = time.monotonic() + self.interval
        while not stop.wait(min(POLL, max(0.0, due - time.monotonic()))):
            now = time.monotonic()
            if now >= due:
                self._nudged.clear()  # the tick compacts too
                self.tick()
                due = time.monotonic() + self.interval
            elif self._nudged.is_set() and now >= self._quiet_until:
                self._nudged.clear()
                self._step(self.landed)
                took = time.monotonic() - now
                self._quiet_until = time.monotonic() + max(LANDED_GAP, took * (1 - COMPACTION_DUTY)
                                                           / COMPACTION_DUTY)

    def tick(self) -> None:
        # Each step on its own: one that keeps failing (a corrupt state file, say) must not hold back
        # the others — retention above all — and the next tick retries it; its data stays put.
        for step in self.steps:
            self._step(step)

    def _step(self, step: Callable[[Store], None]) -> None:
        with self._lag_lock:
            landings, started = self._landings, time.monotonic()
        try:
            step(self.store)
        except CompactionBusy:
            log.info("%s skipped: another run holds the lock", step.__name__)
        except Exception:
            log.exception("%s failed; retrying next tick", step.__name__)
        else:
            if step is self.landed:  # took in what had landed
                with self._lag_lock:
                    # What landed during the run may have been listed after it: it has waited since then.
                    self._landed(None if self._landings == landings else started)

    def _landed(self, since: float | None) -> None:
        """The oldest landing not compacted is now `since` (called holding the lag lock, so that
        `waiting` hears the changes in order)."""
        if since != self._landed_since:
            self._landed_since = since
            if self._waiting is not None:
                self._waiting(since)


def compaction(freshness: Callable[[list[float]], None] | None = None) -> Callable[[Store], None]:
    """The compaction step; it hands `freshness` the freshness of the events each run counted."""
    def compact_step(store: Store) -> None:
        started = datetime.now(UTC)
        report = compact(store, wait=False)
        committed = datetime.now(UTC)
        if freshness is not None and report.events_in:
            freshness(freshness_seconds(report.received_at, committed))
        if report.raw_objects_read or report.quarantined_objects:
            log.info("compacted %d raw objects: %d events, %d duplicates dropped, %d partitions, "
                     "%d quarantined in %.1fs", report.raw_objects_read, report.events_in,
                     report.duplicates_dropped, len(report.partitions_written),
                     len(report.quarantined_objects), (committed - started).total_seconds())

    return compact_step


compact_step = compaction()


def webhook_step(store: Store) -> None:
    """Right after compaction: newly curated events go out within a tick (pipeline/webhooks/)."""
    try:
        report = run_webhooks(store, OrganizationRegistry(store, cache_seconds=0), wait=False,
                              budget=WEBHOOK_BUDGET, actor="serve")
    except WebhooksBusy:
        log.info("webhook_step skipped: another webhook run holds the lock")
        return
    if report.total("batches_delivered") or report.total("failed_attempts"):
        log.info("webhooks: %d batches (%d events) delivered, %d failed attempts, %d dead-lettered",
                 report.total("batches_delivered"), report.total("events_delivered"),
                 report.total("failed_attempts"), report.total("dead_lettered"))


def rollup_step(store: Store) -> None:
    # Incremental: only closed days whose curated data changed are rebuilt; reports read the
    # open days (today, yesterday) from curated, so they are fresh without a rollup.
    report = build_rollups(store)
    if report.days_built:
        log.info("rolled up %d organization-days", len(report.days_built))


def retention_step(store: Store) -> None:
    """At most once per RETENTION_EVERY: the zone defaults and the organizations' overrides."""
    now = datetime.now(UTC)
    try:
        last = datetime.fromisoformat(json.loads(store.get(RETENTION_RUN))["at"])
    except KeyError:
        last = None
    if last is not None and now - last < RETENTION_EVERY:
        return
    report = apply_retention(store, OrganizationRegistry(store, cache_seconds=0), wait=False, actor="serve")
    store.put(RETENTION_RUN, json.dumps({"at": now.isoformat()}).encode())
    if report.objects_deleted:
        log.info("retention deleted %d objects: %s", report.objects_deleted,
                 {zone: sorted(orgs) for zone, orgs in report.days_deleted.items()})


def digest_step(mailer: Mailer, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
                ) -> Callable[[Store], None]:
    """The weekly digest of opted-in organizations (pipeline/reporting/digest.py), looked for every
    DIGEST_EVERY: from Monday 07:00 UTC each gets last week's once (the store's state records it)."""
    def digest_step(store: Store) -> None:
        now = clock()
        try:
            last = datetime.fromisoformat(json.loads(store.get(DIGEST_RUN))["at"])
        except KeyError:
            last = None
        if last is not None and now - last < DIGEST_EVERY:
            return
        engine = DuckDbEngine(store)
        try:
            run = send_due(store, engine, mailer, due_week(now), actor="serve", now=now)
        finally:
            engine.close()
        store.put(DIGEST_RUN, json.dumps({"at": now.isoformat()}).encode())
        if run.sent:
            log.info("digest of %s sent to %s", run.week, ", ".join(s.organization_id for s in run.sent))
        for org, error in run.failed.items():
            log.warning("digest of %s for %s not sent (retried in %s): %s", org, run.week, DIGEST_EVERY,
                        error)

    return digest_step
