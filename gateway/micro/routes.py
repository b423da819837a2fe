"""The /micro routes: what Percus Micro's gateway accepted and refused, reset, and a long-poll for
events to arrive (docs/testing-your-embed.md)."""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.errors import ApiError
from gateway.micro.recorder import Recorder
from gateway.openapi import error_doc
from gateway.recent_ids import RecentIds

MAX_WAIT_SECONDS = 300.0
_WAIT_OPTIONS = ("count", "timeout")


def routes(recorder: Recorder, recent_ids: RecentIds, token: dict[str, str]) -> list[BaseRoute]:
    async def share_token(request: Request) -> Response:
        return JSONResponse(token)

    async def counts(request: Request) -> Response:
        good, bad = len(recorder.good), len(recorder.bad)
        return JSONResponse({"good": good, "bad": bad, "total": good + bad})

    async def good(request: Request) -> Response:
        return JSONResponse({"events": recorder.matching(request.query_params)})

    async def bad(request: Request) -> Response:
        return JSONResponse({"refused": recorder.bad})

    async def reset(request: Request) -> Response:
        recorder.reset()
        recent_ids.clear()  # an event sent again after a reset is new, not a duplicate
        return Response(status_code=204)

    async def wait(request: Request) -> Response:
        query = request.query_params
        count = _number(query.get("count", "1"), "count", int, 1, 100_000)
        timeout = _number(query.get("timeout", "10"), "timeout", float, 0, MAX_WAIT_SECONDS)
        filters = {name: value for name, value in query.items() if name not in _WAIT_OPTIONS}
        events, arrived = await recorder.wait(int(count), timeout, filters)
        if arrived:
            return JSONResponse({"events": events})
        message = f"{len(events)} of {int(count)} matching events arrived within {timeout:g} s"
        return JSONResponse({"error": {"code": "timeout", "message": message}, "events": events},
                            status_code=408)

    return [Route("/micro/token", share_token, methods=["GET"]),
            Route("/micro/all", counts, methods=["GET"]),
            Route("/micro/good", good, methods=["GET"]),
            Route("/micro/bad", bad, methods=["GET"]),
            Route("/micro/reset", reset, methods=["POST"]),
            Route("/micro/wait", wait, methods=["GET"])]


def _number(text: str, name: str, kind: type[int] | type[float], low: float, high: float) -> float:
    try:
        value = kind(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:
        noun = "an integer" if kind is int else "a number"
        message = f"{name} must be {noun} from {low:g} to {high:g}, not {text!r}"
        raise ApiError(400, "invalid_parameter", message, name)
    return value


_JSON_OBJECT = {"content": {"application/json": {"schema": {"type": "object"}}}}
_FILTERS = {"name": "filters", "in": "query", "required": False, "style": "form", "explode": True,
            "schema": {"type": "object", "additionalProperties": {"type": "string"}},
            "description": "Any stored field (event_type, session_id, project_id, template_id…) or payload "
                           "field (cta_name, chapter_id…) equal to the value; numbers and booleans as JSON."}


def _get(summary: str, description: str, parameters: list[dict[str, Any]] | None = None,
         **answers: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"tags": ["micro"], "summary": summary, "description": description,
                    "parameters": parameters or [],
                    "responses": {"200": {"description": description, **_JSON_OBJECT}, **answers}}}


PATHS: dict[str, Any] = {
    "/micro/token": _get("Micro's share token", "`token`, `organization_id` and `project_id`."),
    "/micro/all": _get("Counts", "`good`, `bad` and `total`."),
    "/micro/good": _get("Accepted events", "`events`: as the queue received them (server fields set, "
                        "viewer id keyed), oldest first.", [_FILTERS]),
    "/micro/bad": _get("Refused requests and events", "`refused`: the body (first 4 KB), `status`, "
                       "`error` {code, message, field}, the batch `index` and `event_id`, `received_at`."),
    "/micro/reset": {"post": {"tags": ["micro"], "summary": "Forget every event, refusal and event id",
                              "responses": {"204": {"description": "Forgotten"}}}},
    "/micro/wait": _get(
        "Wait for events", "`events`: the matching events, once `count` of them arrived.",
        [{"name": "count", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
         {"name": "timeout", "in": "query", "required": False,
          "schema": {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS}}, _FILTERS],
        **{"400": error_doc("count or timeout malformed (invalid_parameter)."),
           "408": {"description": "Timed out: the error body (code timeout) and the `events` that did arrive",
                   **_JSON_OBJECT}}),
}
