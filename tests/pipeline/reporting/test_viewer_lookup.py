"""pipeline/reporting/viewer_lookup.py: ids keyed under an older viewer key are found too, and a
request larger than one query's batch is answered whole."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pipeline.governance.viewer_keys import ViewerKeys
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.reporting.viewer_lookup import BATCH, lookup
from pipeline.store.local import LocalStore
from tests.pipeline._outcomes import D1
from tests.pipeline._sessions import Session, ingest
from translator.engagement import decode, encode

OLD, NEW = ViewerKeys.parse("v1:old-key"), ViewerKeys.parse("v2:new-key,v1:old-key")


def test_older_keys_and_every_batch_are_searched(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    clients = [f"{n:064x}" for n in range(BATCH + 10)]
    at = D1 + timedelta(hours=9)
    ingest(store, [
        Session(at, viewer_hash=OLD.keyed(clients[0])).at(0, "session.started"),  # before the rotation
        Session(at + timedelta(days=1), project="p2", viewer_hash=NEW.keyed(clients[0]))
        .at(0, "session.started"),
        Session(at, viewer_hash=NEW.keyed(clients[-1])).at(0, "session.started")
        .at(1, "cta.clicked", cta_id="go"),
    ])
    engine = DuckDbEngine(store)
    found = lookup(engine, "acme", clients, NEW)
    engine.close()
    assert [project["project_id"] for project in found[clients[0]]["projects"]] == ["p1", "p2"]
    assert found[clients[0]]["sessions"] == 2
    assert (found[clients[-1]]["sessions"], found[clients[-1]]["ctas_clicked"]) == (1, {"go": 1})
    assert sum(1 for value in found.values() if value["sessions"]) == 2


def test_a_viewers_watched_buckets_are_the_union_over_their_plays(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    client, silent = "a" * 64, "b" * 64
    at = D1 + timedelta(hours=9)
    ingest(store, [
        Session(at, viewer_hash=NEW.keyed(client)).at(0, "video.played", position_ms=0)
        .at(5, "video.paused", position_ms=5000, watched=encode(range(0, 30)),
            watched_again=encode(range(5, 10))),
        Session(at + timedelta(days=1), project="p2", viewer_hash=NEW.keyed(client))
        .at(0, "video.played", position_ms=0)
        .at(9, "video.completed", duration_ms=9000, percent=100, watched=encode(range(20, 100)),
            watched_again=encode(())),
        Session(at, viewer_hash=NEW.keyed(silent)).at(0, "video.played", position_ms=0)  # an older player
        .at(9, "video.completed", duration_ms=9000, percent=100),
    ])
    engine = DuckDbEngine(store)
    found = lookup(engine, "acme", [client, silent], NEW)
    engine.close()
    assert decode(found[client]["watched"]) == set(range(100))
    assert decode(found[client]["watched_again"]) == set(range(5, 10))
    by_project = {project["project_id"]: project for project in found[client]["projects"]}
    assert decode(by_project["p2"]["watched"]) == set(range(20, 100))
    assert by_project["p2"]["watched_again"] == encode(())
    assert (found[silent]["watched"], found[silent]["watched_again"]) == (None, None)
