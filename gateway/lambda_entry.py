"""The ingest and API Lambdas: the gateway's Starlette app behind API Gateway (HTTP API, payload 2.0),
via Mangum."""

from __future__ import annotations

import functools
from typing import Any

from mangum import Mangum

from gateway.app import create_app
from pipeline.backends import open_queue
from pipeline.lambdas._environment import gateway_settings, viewer_keys


@functools.cache
def adapter() -> Mangum:
    """The app of this container, built on its first request and kept while the container lives."""
    settings = gateway_settings()
    # The queue lives as long as the container: Lambda gives no moment to close it.
    return Mangum(create_app(settings, open_queue(settings), viewer_keys=viewer_keys()), lifespan="auto")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return adapter()(event, context)
