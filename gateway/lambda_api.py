"""The API function: the reporting side (gateway/app.py's API set) behind API Gateway (HTTP API,
payload 2.0), via Mangum. It has no queue: events go to the ingest function."""

from __future__ import annotations

import functools
from typing import Any

from mangum import Mangum

from gateway.app import create_api_app
from pipeline.lambdas._environment import gateway_settings, viewer_keys


@functools.cache
def adapter() -> Mangum:
    """The app of this container, built on its first request and kept while the container lives."""
    # Off: the API app's lifespan does nothing (it takes no events), and Mangum would run it around
    # every invocation.
    return Mangum(create_api_app(gateway_settings(), viewer_keys=viewer_keys()), lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return adapter()(event, context)
