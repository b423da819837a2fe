"""The data dir is its user's alone, whatever the umask: after an organization with a webhook and a
legacy group key is made and events are ingested, compacted, rolled up, exported, sent to the webhook
and the digest outbox and deleted for a viewer, every directory under it is 0700 and every file
0600, and the group key is nowhere in plaintext."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.middleware.rate_limit import RateLimits
from gateway.tokens import issue_token
from pipeline.backends import open_mailer, open_store
from pipeline.config import load_settings
from pipeline.governance.registry import OrganizationRegistry
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.queue.local import LocalQueue
from pipeline.raw.writer import drain_batch
from pipeline.reporting.exports import create_export
from pipeline.reporting.rollups import build_rollups
from pipeline.reporting.selection import Selection
from pipeline.webhooks.run import run as run_webhooks
from tests._fixtures import load_fixture
from tests.conftest import free_port
from tests.gateway._events import VIEWER_HASH, event
from tests.percus._cli import run

GROUP_KEY = "GK-acme-7Qm2-secret"


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    before = os.umask(request.param)
    yield request.param
    os.umask(before)


def test_every_file_is_0600_and_every_directory_0700(umask: int, data_dir: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "org", "create", "acme", "--legacy-group-key", GROUP_KEY)[0] == 0
    hook = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens: the batch waits in the outbox
    assert run(capsys, "org", "webhook", "acme", "--url", hook, "--allow-loopback",
               "--since", "2026-01-01")[0] == 0
    settings = load_settings()
    store = open_store(settings)
    queue = LocalQueue(data_dir / "queue")
    with TestClient(create_app(settings, queue, rate_limits=RateLimits())) as client:
        token = issue_token(settings.token_keys, "acme", "p1")
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        events = [event(event_type, occurred_at=now) for event_type in ("session.started", "cta.clicked")]
        answer = client.post("/analytics/v1/events", json={"events": events},
                             headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 202, answer.text
        legacy = {**load_fixture("individeo/indiTrack/onCTA.json")["body"], "trackerGroupKey": GROUP_KEY}
        assert client.post("/api/indiTrack", json=legacy).status_code == 202
    while drain_batch(queue, store, max_wait=0).received:
        pass
    queue.close()
    assert run(capsys, "compact")[0] == 0
    build_rollups(store, day=datetime.now(UTC).date(), org="acme")
    engine = DuckDbEngine(store)
    create_export(store, engine, "acme", Selection(), actor="test")
    engine.close()
    run_webhooks(store, OrganizationRegistry(store, cache_seconds=0), budget=5)
    digest = EmailMessage()
    digest["From"], digest["To"], digest["Subject"] = "digest@localhost", "ops@example.com", "Digest"
    digest.set_content("numbers")
    digest.add_attachment(b"%PDF-1.7", maintype="application", subtype="pdf", filename="digest.pdf")
    open_mailer(settings).send(digest)
    assert run(capsys, "dsar", "delete", "--org", "acme", "--viewer-hash", VIEWER_HASH)[0] == 0

    made = {path.relative_to(data_dir).parts[0] for path in data_dir.rglob("*")}
    assert made == {"bucket", "queue", "secrets", "outbox"}
    assert {"raw", "curated", "rollups", "exports", "config", "audit", "state"} <= {
        path.name for path in (data_dir / "bucket").iterdir()}
    assert list((data_dir / "bucket" / "state" / "webhooks").rglob("outbox/*/*.json"))
    wrong = {str(path): oct(stat.S_IMODE(path.stat().st_mode)) for path in [data_dir, *data_dir.rglob("*")]
             if stat.S_IMODE(path.stat().st_mode) != (0o700 if path.is_dir() else 0o600)}
    assert wrong == {}
    holding_the_key = [path for path in data_dir.rglob("*")
                       if path.is_file() and GROUP_KEY.encode() in path.read_bytes()]
    assert holding_the_key == []
