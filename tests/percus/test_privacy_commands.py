"""`percus dsar delete`, `percus retention apply`, `percus audit list` on the embedded default."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.governance.viewer_keys import load_viewer_keys
from pipeline.layout import raw_key
from pipeline.store.local import LocalStore
from tests.percus._cli import run
from tests.pipeline._sessions import DAY1, Session, ingest

CLIENT = "5eed" * 16


@pytest.fixture
def store(data_dir: Path) -> LocalStore:
    # The key `percus serve` would have generated into the data dir, so the ids are the gateway's.
    keyed = load_viewer_keys({}, data_dir=data_dir).keyed(CLIENT)
    store = LocalStore(data_dir / "bucket")
    ingest(store, [Session(DAY1, viewer_hash=keyed).at(0, "session.started"),
                   Session(DAY1).at(0, "session.started")])
    return store


def test_dsar_delete_from_the_client_hash_then_audit_list(store: LocalStore,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "dsar", "delete", "--org", "acme", "--viewer-hash", CLIENT)
    assert code == 0 and "removed 1 raw lines" in out and "1 curated rows" in out
    assert "'acme' is not registered (the deletion still searches its events)" in err
    code, out, _ = run(capsys, "audit", "list", "--org", "acme", "--action", "dsar")
    (line,) = out.splitlines()
    record = json.loads(line)
    assert record["actor"].startswith("cli") and record["details"]["curated_rows_removed"] == 1
    assert CLIENT not in out
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    code, out, _ = run(capsys, "audit", "list", "--since", tomorrow)
    assert code == 0 and out == ""


def test_bad_input_is_an_error_message_not_a_traceback(store: LocalStore,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "dsar", "delete", "--org", "acme", "--viewer-hash", "1234")
    assert code == 2 and "64 hexadecimal" in err
    code, _, err = run(capsys, "audit", "list", "--since", "last week")
    assert code == 2 and "--since" in err


def test_retention_apply_deletes_what_is_past_its_retention(store: LocalStore,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    old = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=45)
    key = raw_key("acme", old.replace(minute=0, second=0, microsecond=0), "old")
    store.put(key, b"x")
    code, out, _ = run(capsys, "retention", "apply")
    assert code == 0 and "raw acme:" in out
    assert key not in set(store.list("raw/"))
    code, out, _ = run(capsys, "audit", "list", "--action", "retention")
    assert json.loads(out.splitlines()[0])["scope"] == {"organization_id": "acme", "zone": "raw"}
