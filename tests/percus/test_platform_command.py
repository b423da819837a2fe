"""`percus platform replay FILE.jsonl`: a backfill that reports a bad line by its number and keeps
the good ones, with progress on stderr."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from pipeline.platform.dims import read_latest
from pipeline.store.local import LocalStore
from tests.percus._cli import run


def line(type_: str, at: str = "2026-11-20T10:00:00Z", **fields: object) -> str:
    return json.dumps({"event_id": str(uuid.uuid4()), "type": type_, "occurred_at": at,
                       "organization_id": "acme", **fields})


def test_replay_keeps_the_good_lines_and_names_the_bad(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    created = line("ProjectCreated", project_id="p1", name="Renewals")
    events = [created, "", "{oops", line("ProjectCreated", project_id="p2"),
              line("ProjectArchived", "2026-11-21T10:00:00Z", project_id="p1"), created, line("Renamed")]
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(events) + "\n")
    code, out, err = run(capsys, "platform", "replay", str(source), "--data-dir", str(tmp_path / "data"))
    assert code == 1
    assert out.strip() == "2 accepted, 1 duplicates, 1 ignored, 2 rejected"
    assert "line 3: not a JSON value" in err and "line 4: invalid_field: name: Field required" in err
    assert "replay: 7 lines read" in err
    [project] = read_latest(LocalStore(tmp_path / "data" / "bucket"), "projects", "acme")
    assert (project["project_id"], project["archived"]) == ("p1", True)
    source.write_text(created + "\n")
    assert run(capsys, "platform", "replay", str(source), "--data-dir", str(tmp_path / "data"))[:2] == (
        0, "0 accepted, 1 duplicates, 0 ignored, 0 rejected\n")
