"""GET /healthz (the process answers) and GET /readyz (it can take events: the queue accepts sends)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.enqueuer import RETRY_AFTER_SECONDS, Enqueuer
from gateway.errors import ApiError, error_doc
from gateway.services import Services


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def routes(services: Services) -> list[BaseRoute]:
    enqueuer: Enqueuer | None = services.enqueuer  # none in the API app: it is ready once it answers

    async def readyz(request: Request) -> Response:
        if enqueuer is not None and not enqueuer.ready:
            raise ApiError(503, "queue_unavailable", "the queue refused the last send",
                           headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        return JSONResponse({"status": "ready"})

    return [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]


_STATUS = {"content": {"application/json": {"schema": {
    "type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]}}}}

TAG = "health"
PATHS: dict[str, Any] = {
    "/healthz": {"get": {"operationId": "get_liveness", "summary": "Liveness: the process answers",
                         "responses": {"200": {"description": "Alive", **_STATUS}}}},
    "/readyz": {"get": {"operationId": "get_readiness", "summary": "Readiness: the queue accepts events",
                        "responses": {
                            "200": {"description": "Ready", **_STATUS},
                            "503": error_doc("The queue refused a send in the last few seconds")}}},
}
