"""The /micro routes: what Percus Micro's gateway accepted and refused, reset, and a long-poll for
events to arrive (docs/testing-your-embed.md)."""

from __future__ import annotations

import math
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.errors import ApiError, error_doc
from gateway.micro.recorder import Recorder
from gateway.recent_ids import RecentEventIds

MAX_WAIT_SECONDS = 300.0
_WAIT_OPTIONS = ("count", "timeout")
# Host pages: test pages put by the test itself (MicroClient.host_page), served back as HTML.
MAX_PAGE_BYTES = 256 * 1024
_PAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def routes(recorder: Recorder, recent_ids: RecentEventIds, token: dict[str, str]) -> list[BaseRoute]:
    pages: dict[str, bytes] = {}

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
        pages.clear()
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

    async def put_page(request: Request) -> Response:
        name = _page_name(request)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_PAGE_BYTES:
                raise ApiError(413, "page_too_large", f"a host page holds at most {MAX_PAGE_BYTES} bytes")
        pages[name] = body
        return Response(status_code=204)

    async def get_page(request: Request) -> Response:
        name = _page_name(request)
        if name not in pages:
            raise ApiError(404, "page_not_found", f"no host page {name!r}: PUT it first (or it was reset)")
        return HTMLResponse(pages[name], headers={"Cache-Control": "no-store"})

    return [Route("/micro/token", share_token, methods=["GET"]),
            Route("/micro/pages/{name}", get_page, methods=["GET"]),
            Route("/micro/pages/{name}", put_page, methods=["PUT"]),
            Route("/micro/all", counts, methods=["GET"]),
            Route("/micro/good", good, methods=["GET"]),
            Route("/micro/bad", bad, methods=["GET"]),
            Route("/micro/reset", reset, methods=["POST"]),
            Route("/micro/wait", wait, methods=["GET"])]


def _page_name(request: Request) -> str:
    name = str(request.path_params["name"])
    if not _PAGE_NAME.fullmatch(name):
        raise ApiError(400, "invalid_parameter", "a page name is 1-64 letters, digits, '.', '_' or '-', "
                       "starting with a letter or digit", "name")
    return name


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


_PAGE_PARAMETER = {"name": "name", "in": "path", "required": True,
                   "schema": {"type": "string", "pattern": _PAGE_NAME.pattern}}
_JSON_OBJECT = {"content": {"application/json": {"schema": {"type": "object"}}}}
_FILTERS = {"name": "filters", "in": "query", "required": False, "style": "form", "explode": True,
            "schema": {"type": "object", "additionalProperties": {"type": "string"}},
            "description": "Any stored field (event_type, session_id, project_id, template_id…) or payload "
                           "field (cta_name, chapter_id…) equal to the value, a dotted name walking into "
                           "objects (consent.tracking); numbers and booleans as JSON."}


def _get(operation_id: str, summary: str, description: str,
         parameters: list[dict[str, Any]] | None = None, **answers: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"operationId": operation_id, "summary": summary, "description": description,
                    "parameters": parameters or [],
                    "responses": {"200": {"description": description, **_JSON_OBJECT}, **answers}}}


TAG = "micro"
PATHS: dict[str, Any] = {
    "/micro/token": _get("micro_token", "Micro's share token",
                         "`token`, `organization_id` and `project_id`."),
    "/micro/all": _get("micro_counts", "Counts", "`good`, `bad` and `total`."),
    "/micro/good": _get("micro_good", "Accepted events", "`events`: as the queue received them (server "
                        "fields set, viewer id keyed), oldest first.", [_FILTERS]),
    "/micro/bad": _get("micro_bad", "Refused requests and events", "`refused`: the body (first 4 KB), "
                       "`status`, `error` {code, message, field}, the batch `index` and `event_id`, "
                       "`received_at`."),
    "/micro/pages/{name}": {
        "get": {"operationId": "micro_get_page", "summary": "A host page put by a test",
                "parameters": [_PAGE_PARAMETER],
                "responses": {"200": {"description": "The page, as put",
                                      "content": {"text/html": {"schema": {"type": "string"}}}},
                              "400": error_doc("The name is malformed (invalid_parameter)."),
                              "404": error_doc("No such page since the last reset (page_not_found).")}},
        "put": {"operationId": "micro_put_page",
                "summary": "Put a host page (HTML, at most 256 KB) to serve at this path",
                "parameters": [_PAGE_PARAMETER],
                "requestBody": {"required": True, "content": {"text/html": {"schema": {"type": "string"}}}},
                "responses": {"204": {"description": "Stored until the next reset"},
                              "400": error_doc("The name is malformed (invalid_parameter)."),
                              "413": error_doc("Larger than 256 KB (page_too_large).")}},
    },
    "/micro/reset": {"post": {"operationId": "micro_reset",
                              "summary": "Forget every event, refusal, event id and host page",
                              "responses": {"204": {"description": "Forgotten"}}}},
    "/micro/wait": _get(
        "micro_wait", "Wait for events", "`events`: the matching events, once `count` of them arrived.",
        [{"name": "count", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
         {"name": "timeout", "in": "query", "required": False,
          "schema": {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS}}, _FILTERS],
        **{"400": error_doc("count or timeout malformed (invalid_parameter)."),
           "408": {"description": "Timed out: the error body (code timeout) and the `events` that did arrive",
                   **_JSON_OBJECT}}),
}
