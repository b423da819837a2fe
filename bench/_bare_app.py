"""The baseline: a bare Starlette endpoint that answers 202 to the ingest requests, doing no work."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def accept(request: Request) -> Response:
    await request.body()
    return Response(b'{"accepted":1,"duplicates":0,"rejected":[]}', 202, media_type="application/json")


app = Starlette(routes=[Route("/analytics/v1/events", accept, methods=["POST"])])
