"""GET /metrics: `percus serve`'s metrics in the Prometheus text format, served by the local app only;
the Lambda functions have CloudWatch. DEFINITIONS is the one list: the instruments are made from it
(gateway/instruments.py, which alone loads prometheus-client: the functions never import it), and
docs/operations.md's table is generated from it (`percus docs`).

No label carries an organization or any other unbounded value: `code` is one of the stable error codes
the ingest answers with (docs/api.md), `report` one of the report names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pipeline import freshness
from translator.generated_block import replace_block

if TYPE_CHECKING:
    from gateway.services import Services

PATH = "/metrics"


@dataclass(frozen=True)
class Definition:
    name: str  # as exposed (a counter's with its _total)
    kind: str  # counter, gauge or histogram
    help: str
    labels: tuple[str, ...] = ()


ACCEPTED = Definition("percus_events_accepted_total", "counter",
                      "Events accepted and enqueued by the ingest endpoints (canonical and legacy)")
DUPLICATES = Definition("percus_events_duplicates_total", "counter",
                        "Events answered as duplicates of recently accepted ones, and not enqueued again")
REJECTED = Definition("percus_events_rejected_total", "counter",
                      "Ingest refusals by error code: each rejected event of a batch, and each request "
                      "refused whole (once, whatever it held; rate_limited and body_too_large included)",
                      ("code",))
QUEUE_BACKLOG = Definition("percus_queue_backlog_bytes", "gauge",
                           "Bytes of events in the local queue that the writer has not yet written to the "
                           "store")
QUEUE_AGE = Definition("percus_queue_oldest_message_age_seconds", "gauge",
                       "Seconds since the oldest event in the local queue was received: the writer's lag "
                       "(0 when the queue is empty)")
COMPACTION_LAG = Definition("percus_compaction_lag_seconds", "gauge",
                            "Seconds since the writer landed the oldest raw object not yet compacted (0 when "
                            "compaction has caught up)")
FRESHNESS = Definition("percus_freshness_seconds", "histogram", freshness.DEFINITION)
OUTBOX = Definition("percus_webhook_outbox_batches", "gauge",
                    "Webhook batches waiting to be delivered, every organization's together")
DEAD_LETTERS = Definition("percus_webhook_dead_letter_batches", "gauge",
                          "Webhook batches dead-lettered after their last attempt, waiting for `percus "
                          "webhook redrive`")
REPORT_SECONDS = Definition("percus_report_duration_seconds", "histogram",
                            "Seconds to answer GET /analytics/v1/reports/<report>, by report", ("report",))
DEFINITIONS = (ACCEPTED, DUPLICATES, REJECTED, QUEUE_BACKLOG, QUEUE_AGE, COMPACTION_LAG, FRESHNESS, OUTBOX,
               DEAD_LETTERS, REPORT_SECONDS)


def routes(services: Services) -> list[BaseRoute]:
    metrics = services.require_metrics()

    async def scrape(request: Request) -> Response:
        # Reading the state touches the disk: not on the event loop.
        body, media_type = await run_in_threadpool(metrics.exposition)
        return Response(body, media_type=media_type)

    return [Route(PATH, scrape, methods=["GET"])]


# An operator's endpoint of `percus serve`, not part of the HTTP API both functions answer: left out of
# the API document (gateway/openapi.py), documented for the tests that fuzz every route.
TAG = None
PATHS: dict[str, Any] = {PATH: {"get": {
    "operationId": "get_metrics", "summary": "Prometheus metrics of `percus serve` (docs/operations.md)",
    "responses": {"200": {"description": "The Prometheus text format",
                          "content": {"text/plain": {"schema": {"type": "string"}}}}}}}}


def markdown_table() -> str:
    rows = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
    rows += [f"| `{d.name}` | {d.kind} | {', '.join(f'`{label}`' for label in d.labels) or '-'} | {d.help} |"
             for d in DEFINITIONS]
    return "\n".join(rows) + "\n"


BEGIN = "<!-- metrics list: generated from gateway/metrics.py -->"
END = "<!-- end of metrics list -->"


def sync_document(text: str) -> str:
    """docs/operations.md with its list of metrics replaced by the current definitions."""
    return replace_block(text, BEGIN, END, markdown_table())
