"""Data and keys for the reporting tests (reports API, exports, dashboard): the known sessions of
tests/pipeline/_sessions.py (acme and globex, 2026-11-24/25), plus a campaign of acme's running now
(varied devices, locales, countries, CTAs and errors over the last days and the last hour), all
through the real compactor, acme's project and template names (one project archived) through the real
integration-event handler, and the organizations with one API key each and an admin key.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.middleware.rate_limit import RateLimits
from gateway.shared.buckets import SharedBuckets
from pipeline.config import Settings, load_settings
from pipeline.governance.registry import OrganizationRegistry
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.queue.local import LocalQueue
from pipeline.store.base import Store
from pipeline.store.local import LocalStore
from tests.pipeline._outcomes import KEYS, known_outcomes
from tests.pipeline._platform import describe
from tests.pipeline._sessions import Session, ingest, known_sessions
from translator.engagement import encode

TOKEN_KEYS = "k2:reports-new,k1:reports-old"
CAMPAIGN = "spring-launch"
SMALL_CAMPAIGN = "loyalty-q4"  # every fourth session of the campaign
# The platform's names of acme's projects (SMALL_CAMPAIGN has none), and the one it archived: p2, whose
# only session is S8 of the known sessions.
PROJECT_NAMES = {CAMPAIGN: "Spring launch", "p1": "Renewals", "p2": "Pension projection"}
ARCHIVED = "p2"
_DEVICES = [("desktop", "Windows", "Chrome"), ("mobile", "iOS", "Mobile Safari"),
            ("mobile", "Android", "Chrome Mobile"), ("tablet", "iOS", "Mobile Safari"),
            ("desktop", "Mac OS X", "Safari")]
_PLACES = [("es-CL", "CL"), ("es-CL", "CL"), ("en-US", "US"), ("pt-BR", "BR"), ("es-AR", "AR"),
           ("es-MX", "MX")]
_CTAS = [("book", "Book a visit"), ("offer", "See the offer")]


@dataclass(frozen=True)
class Keys:
    acme: str
    globex: str
    admin: str


def campaign(now: datetime, *, sessions: int = 60, live: int = 14, seed: int = 7) -> list[Session]:
    """Acme's running campaigns: `sessions` over the last three days, `live` in the last hour."""
    rng = random.Random(seed)
    starts = [now - timedelta(hours=rng.uniform(2, 72)) for _ in range(sessions)]
    starts += [now - timedelta(minutes=rng.uniform(4, 55)) for _ in range(live)]
    made = []
    for index, start in enumerate(starts):
        locale, country = rng.choice(_PLACES)
        project = SMALL_CAMPAIGN if index % 4 == 1 else CAMPAIGN
        session = Session(start, project=project, template="welcome", device=rng.choice(_DEVICES),
                          locale=locale, country=country).at(0, "session.started")
        made.append(session)
        if index % 9 == 4:
            session.at(1, "video.errored", error_code=rng.choice(["MEDIA_ERR_DECODE", "MEDIA_ERR_NETWORK",
                                                                  "MEDIA_ERR_SRC_NOT_SUPPORTED"]))
            continue
        if index % 7 == 3:
            continue  # left before pressing play
        session.at(1, "video.played", position_ms=0)
        reached = rng.choice([10, 30, 55, 80, 100, 100, 100])
        for step, percent in enumerate(p for p in (25, 50, 75) if p <= reached):
            session.at(2 + step, "video.progressed", position_ms=300 * percent, percent=percent)
        # Two plays in three from a player that sends watched buckets; one in five of them went back
        # to watch the opening again.
        watched = {} if index % 3 == 0 else {
            "watched": encode(range(reached)), "watched_again": encode(range(10) if index % 5 == 0 else ())}
        if reached == 100:
            session.at(6, "video.completed", duration_ms=30_000, percent=100, **watched)
            if rng.random() < 0.4:
                cta_id, cta_name = rng.choice(_CTAS)
                session.at(7, "cta.clicked", cta_id=cta_id, cta_name=cta_name)
        else:
            session.at(6, "video.incomplete", duration_ms=30_000, percent=reached, **watched)
    return made


def reporting_store(root: Path, now: datetime) -> tuple[Store, Keys]:
    """The known sessions and acme's campaigns running at `now`."""
    store = LocalStore(root)
    sessions, duplicates = known_sessions()
    ingest(store, [*sessions, *campaign(now)], duplicates)
    registry = OrganizationRegistry(store)
    for org in ("acme", "globex", "initech"):  # initech: an organization without data
        registry.create(org)
    describe(store, "acme", projects=PROJECT_NAMES, archived=[ARCHIVED],
             templates={(CAMPAIGN, "welcome"): "Welcome"})
    return store, Keys(registry.create_api_key("acme"), registry.create_api_key("globex"),
                       registry.create_admin_key())


def bearer(key: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Reporting:
    """An in-process gateway over the reporting data, and an engine to compute the expected numbers;
    `now` is the instant the campaigns' data was built around."""

    client: TestClient
    store: Store
    keys: Keys
    settings: Settings
    engine: DuckDbEngine
    now: datetime


@contextmanager
def open_reporting(root: Path, store: Store | None = None, keys: Keys | None = None,
                   **environment: str) -> Iterator[Reporting]:
    """The gateway over `store` (default: `reporting_store` under root/bucket, built around now)."""
    settings = load_settings({"PERCUS_DATA_DIR": str(root), "PERCUS_TOKEN_KEYS": TOKEN_KEYS, **environment})
    now = datetime.now(UTC)
    if store is None or keys is None:
        store, keys = reporting_store(root / "bucket", now)
    queue = LocalQueue(root / "queue")
    engine = DuckDbEngine(store)
    try:
        with TestClient(create_app(settings, queue, store=store, rate_limits=RateLimits())) as client:
            yield Reporting(client, store, keys, settings, engine, now)
    finally:
        engine.close()
        queue.close()


@dataclass
class OutcomesApp:
    """An in-process gateway over tests/pipeline/_outcomes.py's known outcomes, with one key per org."""

    client: TestClient
    store: LocalStore
    root: Path
    acme: str
    globex: str


Served = TypeVar("Served", bound=OutcomesApp)


@contextmanager
def open_outcomes(root: Path, served: type[Served], shared_buckets: SharedBuckets | None = None
                  ) -> Iterator[Served]:
    store = LocalStore(root / "bucket")
    known_outcomes(store)
    describe(store, "acme", projects={"p1": "Renewals"})
    registry = OrganizationRegistry(store)
    for org in ("acme", "globex"):
        registry.create(org)
    with _served(root, store, shared_buckets) as client:
        yield served(client, store, root, registry.create_api_key("acme"), registry.create_api_key("globex"))


@contextmanager
def another_worker(app: Served, shared_buckets: SharedBuckets) -> Iterator[Served]:
    """A second app over the same outcomes, as another worker process of `percus serve` would be."""
    with _served(app.root, app.store, shared_buckets, queue="queue-2") as client:
        yield replace(app, client=client)


@contextmanager
def _served(root: Path, store: LocalStore, shared_buckets: SharedBuckets | None, queue: str = "queue"
            ) -> Iterator[TestClient]:
    settings = load_settings({"PERCUS_DATA_DIR": str(root), "PERCUS_TOKEN_KEYS": f"k1:{root.name}"})
    local = LocalQueue(root / queue)
    try:
        app = create_app(settings, local, store=store, rate_limits=RateLimits(), viewer_keys=KEYS,
                         shared_buckets=shared_buckets)
        with TestClient(app) as client:
            yield client
    finally:
        local.close()
