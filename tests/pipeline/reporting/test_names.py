"""Names beside ids and archived projects left out of the project lists, from the dimension tables'
latest state (folded in occurred_at order, whatever the delivery order): the known sessions of
tests/pipeline/_sessions.py (acme's p1 and p2 on 2026-11-24/25) through the real compactor."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.governance.registry import OrganizationRegistry
from pipeline.platform.handler import handle
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.reporting import projects, reports
from pipeline.reporting.names import Names
from pipeline.reporting.selection import Selection
from pipeline.store.local import LocalStore
from tests.pipeline._platform import describe, platform_event
from tests.pipeline._sessions import DAY1, DAY2, ingest, known_sessions

D1, D2 = DAY1.date(), DAY2.date()
RECEIVED = DAY2 + timedelta(days=1)


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    local = LocalStore(tmp_path)
    sessions, duplicates = known_sessions()
    ingest(local, sessions, duplicates)
    return local


def listed(store: LocalStore, **options: bool) -> tuple[list[str], list[str], list[str]]:
    """The project list, the live list (a window over both days) and the projects report's ids."""
    engine = DuckDbEngine(store)
    report = reports.projects(engine, "acme", Selection(date_from=D1, date_to=D2), **options)
    return (projects.project_ids(engine, "acme", D1, D2, **options),
            projects.live_project_ids(engine, "acme", now=DAY2 + timedelta(hours=12), minutes=3 * 1440,
                                      **options),
            sorted(row["project_id"] for row in report["projects"]))


def test_an_archived_project_leaves_the_lists_until_it_is_created_again(store: LocalStore) -> None:
    assert listed(store) == (["p1", "p2"],) * 3  # nothing known of them: every project listed
    describe(store, "acme", projects={"p1": "Renewals", "p2": "Pensions"}, archived=["p2"])
    assert listed(store) == (["p1"],) * 3
    assert listed(store, include_archived=True) == (["p1", "p2"],) * 3
    registry = OrganizationRegistry(store)
    # Delivered late, a creation that happened before the archive changes nothing…
    handle(registry, [platform_event("ProjectCreated", "acme", "2026-11-01T12:00:00.000Z", project_id="p2",
                                     name="Pensions")], RECEIVED)
    assert listed(store) == (["p1"],) * 3
    # …one that happened after it makes the project live again.
    handle(registry, [platform_event("ProjectCreated", "acme", "2026-11-03T12:00:00.000Z", project_id="p2",
                                     name="Pensions 2")], RECEIVED)
    assert listed(store) == (["p1", "p2"],) * 3
    assert Names.read(store, "acme").projects == {"p1": "Renewals", "p2": "Pensions 2"}


def test_archiving_never_takes_a_projects_sessions_out_of_the_totals(store: LocalStore) -> None:
    engine, days = DuckDbEngine(store), Selection(date_from=D1, date_to=D2)
    before = reports.summary(engine, "acme", days)
    describe(store, "acme", projects={"p2": "Pensions"}, archived=["p2"])
    assert reports.summary(engine, "acme", days) == before
    everything = reports.projects(engine, "acme", days, include_archived=True)["projects"]
    assert sum(row["views"] for row in everything) == before["views"]
    assert reports.projects(engine, "acme", days)["archived_hidden"] == 1


def test_names_go_beside_every_id_and_stay_in_their_organization(store: LocalStore) -> None:
    describe(store, "acme", projects={"p1": "Renewals"}, templates={("p2", "t2"): "Projection"})
    names = Names.read(store, "acme")
    labelled = names.label({"project_id": "p1", "rows": [{"template_id": "t2", "n": 1},
                                                         {"project_id": "p9", "template_id": None}]})
    assert labelled == {"project_id": "p1", "project_name": "Renewals", "rows": [
        {"template_id": "t2", "template_name": "Projection", "n": 1},
        {"project_id": "p9", "project_name": None, "template_id": None, "template_name": None}]}
    assert list(labelled) == ["project_id", "project_name", "rows"]  # the name right after its id
    assert Names.read(store, "globex").label({"project_id": "p1"}) == {"project_id": "p1",
                                                                       "project_name": None}


def test_a_template_activated_again_without_a_name_keeps_its_name(store: LocalStore) -> None:
    describe(store, "acme", templates={("p2", "t2"): "Projection"})
    handle(OrganizationRegistry(store), [platform_event(
        "TemplateActivated", "acme", "2026-11-05T09:00:00.000Z", project_id="p2", template_id="t2",
        template_version="2")], RECEIVED)
    assert Names.read(store, "acme").templates == {"t2": "Projection"}
