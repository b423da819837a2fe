"""Percus Micro (gateway/micro): the production ingest answers, what it records, reset and wait."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from gateway.micro import Micro, create_micro
from tests.gateway._client import EVENTS, Gateway
from tests.gateway._events import PAYLOADS, event


@pytest.fixture
def micro(tmp_path: Path) -> Micro:
    return create_micro(tmp_path / "micro", "acme", "spring-campaign")


@pytest.fixture
def client(micro: Micro) -> Iterator[TestClient]:
    with TestClient(micro.app) as client:
        yield client


def _post(client: TestClient, token: str, body: Any,
          content_type: str = "application/json") -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(EVENTS, content=content,
                       headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})


def _comparable(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored event but what depends on the moment or the server's keys."""
    return {name: value for name, value in stored.items() if name not in ("received_at", "viewer_hash")}


CASES: dict[str, tuple[Any, str]] = {
    **{event_type: (event(event_type), "application/json") for event_type in PAYLOADS},
    "declined consent": (event("video.played", consent=False), "application/json"),
    "no consent": (event("video.played", consent=None), "application/json"),
    "long cta value": (event("cta.clicked", payload={**PAYLOADS["cta.clicked"], "cta_value": "v" * 200}),
                       "text/plain"),
    "batch with a bad event": ({"events": [event("session.started"), {"event_type": "nope"}]},
                               "application/json"),
    "unknown event type": (event("video.rewound"), "application/json"),
    "bad schema version": (event(schema_version="9"), "application/json"),
    "malformed json": (b'{"event_type": ', "application/json"),
    "empty batch": ({"events": []}, "application/json"),
    "wrong media type": (event(), "application/xml"),
}


@pytest.mark.parametrize("case", CASES)
def test_micro_answers_and_stores_as_the_gateway(case: str, gateway: Gateway, micro: Micro,
                                                 client: TestClient) -> None:
    body, content_type = CASES[case]
    expected = gateway.post(body, content_type=content_type)
    answer = _post(client, micro.token, body, content_type)
    assert (answer.status_code, answer.json()) == (expected.status_code, expected.json())
    queued = gateway.queued()
    good = client.get("/micro/good").json()["events"]
    assert [_comparable(stored) for stored in good] == [_comparable(stored) for stored in queued]
    assert [stored["viewer_hash"] is None for stored in good] == [stored["viewer_hash"] is None
                                                                  for stored in queued]
    refused = client.get("/micro/bad").json()["refused"]
    errors = [bad["error"] for bad in refused]
    if answer.status_code >= 400:
        assert errors == [answer.json()["error"]] and refused[0]["status"] == answer.status_code
    else:
        assert errors == [item["error"] for item in answer.json()["rejected"]]
    assert client.get("/micro/all").json() == {"good": len(good), "bad": len(refused),
                                               "total": len(good) + len(refused)}


def test_refusals_keep_the_body_the_status_and_when(micro: Micro, client: TestClient) -> None:
    big = {**event(), "padding": "x" * 10_000}
    assert _post(client, "pt1.forged", big).status_code == 401
    [refused] = client.get("/micro/bad").json()["refused"]
    assert refused["status"] == 401 and refused["error"]["code"] == "token_malformed"
    assert len(refused["body"]) == 4096 and refused["body"] == json.dumps(big)[:4096]
    assert refused["body_bytes"] == len(json.dumps(big)) and refused["received_at"].endswith("Z")


def test_good_filters_by_any_field(micro: Micro, client: TestClient) -> None:
    clicked = event("cta.clicked")
    for body in (event("session.started"), clicked, event("chapter.entered")):
        assert _post(client, micro.token, body).status_code == 202
    assert [e["event_type"] for e in client.get("/micro/good").json()["events"]] == [
        "session.started", "cta.clicked", "chapter.entered"]
    for query in ("event_type=cta.clicked", "cta_name=Contact me", f"session_id={clicked['session_id']}",
                  "position_ms=12000", "project_id=spring-campaign&template_id=tpl-1&cta_id=cta-1",
                  "consent.tracking=true&payload.cta_id=cta-1"):
        found = client.get(f"/micro/good?{query}").json()["events"]
        assert [e["event_id"] for e in found if e["event_type"] == "cta.clicked"] == [clicked["event_id"]]
    assert client.get("/micro/good?cta_name=Other").json()["events"] == []
    assert client.get("/micro/good?consent.tracking=false").json()["events"] == []
    assert client.get("/micro/good?consent.tracking.deeper=1").json()["events"] == []


def test_reset_forgets_events_refusals_and_event_ids(micro: Micro, client: TestClient) -> None:
    body = event()
    _post(client, micro.token, body)
    _post(client, micro.token, b"{", "application/json")
    assert client.get("/micro/all").json() == {"good": 1, "bad": 1, "total": 2}
    assert client.post("/micro/reset").status_code == 204
    assert client.get("/micro/all").json() == {"good": 0, "bad": 0, "total": 0}
    assert _post(client, micro.token, body).json()["accepted"] == 1  # not a duplicate of the forgotten one


def test_two_micros_share_nothing(tmp_path: Path) -> None:
    first, second = create_micro(tmp_path / "a"), create_micro(tmp_path / "b")
    with TestClient(first.app) as one, TestClient(second.app) as two:
        assert _post(one, first.token, event()).status_code == 202
        assert _post(two, first.token, event()).json()["error"]["code"] == "token_bad_signature"
        assert one.get("/micro/all").json()["good"] == 1 and two.get("/micro/all").json()["good"] == 0
        assert two.get("/micro/token").json() == {"token": second.token, "organization_id": "micro",
                                                  "project_id": "micro"}


def test_wait_answers_as_soon_as_the_events_arrive(micro: Micro) -> None:
    async def scenario() -> None:
        transport = httpx.ASGITransport(app=micro.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://micro") as client:
            waiting = asyncio.create_task(client.get("/micro/wait?event_type=cta.clicked&count=2&timeout=60"))
            headers = {"Authorization": f"Bearer {micro.token}"}
            for body in (event("cta.clicked"), event("session.started"), event("cta.clicked")):
                await asyncio.sleep(0)  # let the waiter see each event arrive
                assert (await client.post(EVENTS, json=body, headers=headers)).status_code == 202
            answer = await asyncio.wait_for(waiting, 5)  # far below the 60 s asked for
            assert answer.status_code == 200
            assert [e["event_type"] for e in answer.json()["events"]] == ["cta.clicked", "cta.clicked"]

    asyncio.run(scenario())


def test_wait_times_out_with_408_and_what_arrived(micro: Micro, client: TestClient) -> None:
    _post(client, micro.token, event("cta.clicked"))
    answer = client.get("/micro/wait?event_type=cta.clicked&count=2&timeout=0.05")
    assert answer.status_code == 408
    assert answer.json()["error"]["code"] == "timeout"
    assert [e["event_type"] for e in answer.json()["events"]] == ["cta.clicked"]


@pytest.mark.parametrize(("query", "field"), [("count=abc", "count"), ("count=0", "count"),
                                              ("timeout=-1", "timeout"), ("timeout=nan", "timeout"),
                                              ("timeout=1000", "timeout")])
def test_wait_refuses_malformed_parameters(query: str, field: str, client: TestClient) -> None:
    answer = client.get(f"/micro/wait?{query}")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_parameter" and answer.json()["error"]["field"] == field


def test_micro_serves_the_sdk_player_demo_and_its_openapi(client: TestClient) -> None:
    for path in ("/sdk/percus-embed-sdk.js", "/demo", "/healthz"):
        assert client.get(path).status_code == 200, path
    document = client.get("/analytics/v1/openapi.json").json()
    micro_paths = {path for path, item in document["paths"].items()
                   if any("micro" in operation.get("tags", ()) for operation in item.values())}
    assert micro_paths == {"/micro/token", "/micro/all", "/micro/good", "/micro/bad", "/micro/reset",
                           "/micro/wait", "/micro/pages/{name}"}
    assert "/analytics/v1/reports/summary" not in document["paths"]
