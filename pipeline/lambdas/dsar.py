"""The DSAR Lambda: one deletion request, `{"job": "dsar", "organization_id": …, "viewer_hash": …}`
(the viewer_hash the client computes), run by `pipeline/governance/dsar.py`.

On S3 nothing locks `curated/`, so the request runs in the compactor's function (reserved
concurrency 1: pipeline/lambdas/compactor.py hands it here), never beside a compaction. Invoke it
asynchronously (`aws lambda invoke --invocation-type Event`): Lambda queues it while a compaction
runs and retries a failed run; a run cut short by the timeout is carried on by the next invocation
of the same request, from the job record. The result and the logs never hold the hash.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from pipeline.governance.dsar import delete_viewer
from pipeline.governance.viewer_keys import ViewerKeys
from pipeline.lambdas._environment import data_store, viewer_keys
from pipeline.store.base import Store

log = logging.getLogger(__name__)


class DsarRequest(BaseModel):
    organization_id: str
    viewer_hash: str


def process(store: Store, keys: ViewerKeys, event: Mapping[str, Any], *, actor: str) -> dict[str, Any]:
    request = DsarRequest.model_validate(event)
    report = delete_viewer(store, request.organization_id, request.viewer_hash, keys=keys, actor=actor)
    result = {
        "request_id": report.request_id,
        "organization_id": report.organization_id,
        "resumed": report.resumed,
        "objects_changed": len(report.removed),
        "objects_deleted": len(report.deleted),
        "raw_lines_removed": report.count("raw"),
        "curated_rows_removed": report.count("curated"),
        "rollup_days_rebuilt": [day.isoformat() for day in report.rollup_days_rebuilt],
    }
    log.info("dsar: %s", json.dumps(result))
    return result


@functools.cache
def store() -> Store:
    return data_store()


@functools.cache
def keys() -> ViewerKeys:
    return viewer_keys()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process(store(), keys(), event, actor=f"lambda:{getattr(context, 'function_name', 'dsar')}")
