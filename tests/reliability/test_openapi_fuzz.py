"""schemathesis over every operation of /analytics/v1/openapi.json, against a real `percus serve`.

Each operation gets schema-valid and schema-invalid requests (hypothesis, derandomized, bounded)
carrying valid credentials of one of two organizations (a share token for ingest, a reporting key
for reports and exports, a signed-in session for the dashboard), now and then none at all. Checked:
no 5xx; status codes, content types, headers and bodies as documented; invalid input refused; and
afterwards, in raw, that no event was ever stored under an organization other than its token's.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from gateway import openapi
from gateway.app import LOCAL
from gateway.dashboard_session import COOKIE
from gateway.openapi import PATH as OPENAPI_PATH
from pipeline.governance.registry import OrganizationRegistry
from tests.reliability._serve import EVENTS, local_store, raw_events, serving, token
from translator.canonical import format_timestamp

pytestmark = pytest.mark.slow

ORGS = ("acme", "globex")
PROJECT = {"acme": "p-acme", "globex": "p-globex"}
EXAMPLES = 25  # per operation and mode: about 30 operations, each example a loopback request
# Every default check runs but one. positive_data_acceptance expects a 2xx for every schema-valid
# request; these refuse some with a documented 400 that JSON Schema cannot express: report and export
# dates must lie between 2000-01-01 and a few days from today (a window that moves with the clock),
# and a legacy post needs its event named in ?evt= or in the body's `event` field (either one).
EXCLUDED_CHECKS = [positive_data_acceptance]
# Operations that take a batch item by item (documented): a schema-invalid item is refused in the
# answer's `rejected`, the others kept; the list each one's body holds.
PER_ITEM = {EVENTS: "events", "/analytics/v1/outcomes": "outcomes",
            "/analytics/v1/audiences/{name}": "viewer_hashes",
            "/analytics/v1/viewers/lookup": "viewer_hashes"}


@dataclass
class Run:
    base: str
    tokens: dict[str, str]
    keys: dict[str, str]
    sessions: dict[str, str]  # dashboard session cookies
    sent: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # event id -> orgs
    turn: Iterator[int] = field(default_factory=itertools.count)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("openapi-fuzz")
    data_dir = root / "data"
    registry = OrganizationRegistry(local_store(data_dir))
    for org in ORGS:
        registry.create(org)
    keys = {org: registry.create_api_key(org) for org in ORGS}
    tokens = {org: token(data_dir, org, PROJECT[org]) for org in ORGS}
    with serving(data_dir, root / "serve.log") as server:
        sessions = {org: _signed_in(server.base, keys[org]) for org in ORGS}
        state = Run(server.base, tokens, keys, sessions)
        yield state
        assert server.stop() in (0, -signal.SIGTERM)  # the writer flushes what was queued
        output = server.output()
    assert "Traceback" not in output, output
    _check_no_event_crossed_organizations(data_dir, state)


def _signed_in(base: str, key: str) -> str:
    answer = httpx.post(f"{base}/dashboard/sign-in", data={"key": key}, headers={"Origin": base})
    assert answer.status_code == 303, answer.text
    return answer.cookies[COOKIE]


def _check_no_event_crossed_organizations(data_dir: Path, state: Run) -> None:
    stored = list(raw_events(local_store(data_dir)))
    assert {event["organization_id"] for event in stored} == set(ORGS)  # the check below is not vacuous
    for event in stored:
        orgs = state.sent.get(str(event["event_id"]))
        assert orgs, f"an event that no accepted request sent was stored: {event['event_id']}"
        assert event["organization_id"] in orgs
        assert event["project_id"] == PROJECT[event["organization_id"]]


@pytest.fixture(scope="module")
def api(run: Run) -> schemathesis.BaseSchema:
    """The served API document's operations, and the pages' too (documented, not served)."""
    served = httpx.get(f"{run.base}{OPENAPI_PATH}").json()
    document = openapi.document(LOCAL, pages=True)
    assert {path: document["paths"][path] for path in served["paths"]} == served["paths"]
    return schemathesis.openapi.from_dict(document)


# Every documented operation, read from the route modules (the document is made from them), so each
# is its own test. schemathesis's own pytest integration (`from_fixture`) does not run on pytest 9
# (it reads a node attribute pytest 9 no longer has); its strategies are driven by hypothesis here.
OPERATIONS = [*sorted((method.upper(), path) for module in LOCAL
                      for path, item in module.PATHS.items() for method in item), ("GET", OPENAPI_PATH)]


def _credentials(case: schemathesis.Case, run: Run) -> tuple[str | None, dict[str, Any]]:
    """(organization, call arguments): mostly a valid credential of either organization, sometimes
    none. The dashboard always gets a session: without one it redirects to its sign-in page before
    reading any parameter, which the negative checks would take for accepting invalid input."""
    turn = next(run.turn)
    org = ORGS[turn % 2]
    if case.path.startswith("/dashboard/") and case.path != "/dashboard/sign-in":
        return None, {"cookies": {COOKIE: run.sessions[org]}, "headers": {"Origin": run.base}}
    if turn % 7 == 6:
        return None, {}
    security = case.operation.definition.raw.get("security") or []
    schemes = {name for requirement in security for name in requirement}
    if "shareToken" in schemes:
        return org, {"headers": {"Authorization": f"Bearer {run.tokens[org]}"}}
    if "apiKey" in schemes:
        return org, {"headers": {"Authorization": f"Bearer {run.keys[org]}"}}
    return None, {}


def _event_ids(body: Any) -> list[str]:
    """The event ids a body sends, in their stored form (a UUID may be sent in any of its spellings)."""
    events = body.get("events") if isinstance(body, dict) and "event_type" not in body else [body]
    ids = []
    for event in events if isinstance(events, list) else []:
        with contextlib.suppress(TypeError, KeyError, ValueError, AttributeError):  # not an id: not stored
            ids.append(str(uuid.UUID(event["event_id"])))
    return ids


def _storable(body: Any) -> None:
    """Make a schema-valid body's events storable where JSON Schema cannot say what storable is, so
    that events get stored and the crossing check below has something to check: times mostly lie
    outside the window the server accepts (2000 to a day from now, docs/api.md "Event times"), and
    an event without consent is refused (docs/api.md "Consent"). Times out of the window and events
    without consent are tested in tests/gateway/test_hostile_events.py and test_consent_matrix.py."""
    events = body.get("events") if isinstance(body, dict) and "event_type" not in body else [body]
    if not isinstance(events, list):
        return
    now = format_timestamp(datetime.now(UTC))
    for event in events:
        if isinstance(event, dict):
            event.update({name: now for name in ("occurred_at", "sent_at") if name in event})
            consent = event.get("consent") if isinstance(event.get("consent"), dict) else {}
            event["consent"] = consent
            consent["tracking"] = True
            if "granted_at" in consent:
                consent["granted_at"] = now


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_behaves_as_documented(api: schemathesis.BaseSchema, run: Run, method: str, path: str,
                                               mode: GenerationMode) -> None:
    operation = api[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        org, credentials = _credentials(case, run)
        if path == EVENTS and mode is GenerationMode.POSITIVE:
            _storable(case.body)
        if path == EVENTS and org is not None:
            for event_id in _event_ids(case.body):  # noted before the call: the server may store them
                run.sent[event_id].add(org)
        response = case.call(base_url=run.base, timeout=30, **credentials)
        if mode is GenerationMode.NEGATIVE and path in PER_ITEM and isinstance(case.body, dict) \
                and isinstance(case.body.get(PER_ITEM[path]), list) and response.status_code in (200, 202):
            # A batch is taken item by item (documented): its schema-invalid items are refused in the
            # answer's `rejected`, the valid ones taken. An events body is the only part of its case the
            # negative mode can spoil; the others' may be valid, spoiled only in the Authorization
            # header that _credentials replaces with a valid key.
            if path == EVENTS:
                assert response.json()["rejected"], response.text
            case.validate_response(response, excluded_checks=[*EXCLUDED_CHECKS, negative_data_rejection])
        else:
            case.validate_response(response, excluded_checks=EXCLUDED_CHECKS)

    try:
        check()
    except Unsatisfiable:
        # Nothing of this operation can be made schema-invalid (no parameters, or only free text).
        assert mode is GenerationMode.NEGATIVE
