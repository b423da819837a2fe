"""The ingest function: the ingest set (gateway/ingest_app.py) behind API Gateway (HTTP API, payload
2.0), via Mangum. It imports nothing of the reporting side, so its cold start stays small; Mangum and
the backends (boto3 for SQS) load when the first request builds the app (bench/coldstart.py)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from gateway.ingest_app import create_ingest_app
from pipeline.backends import open_queue
from pipeline.lambdas._environment import gateway_settings, viewer_keys

if TYPE_CHECKING:
    from mangum import Mangum


@functools.cache
def adapter() -> Mangum:
    """The app of this container, built on its first request and kept while the container lives."""
    from mangum import Mangum

    settings = gateway_settings()
    # The queue lives as long as the container: Lambda gives no moment to close it.
    app = create_ingest_app(settings, open_queue(settings), viewer_keys=viewer_keys())
    # Off: Mangum would run the app's lifespan on every invocation (about 0.2 ms of CPU each, more
    # than a small request's own), and all it does is load ua-parser's rules, which the first event
    # that needs them loads as well.
    return Mangum(app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return adapter()(event, context)
