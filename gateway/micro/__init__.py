"""Percus Micro: the production ingest routes, SDK files, player and demo over an in-memory queue, with
the /micro routes to read what they accepted and refused (docs/testing-your-embed.md)."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp

from gateway import demo, health, ingest, legacy, openapi, player, sdk_files
from gateway.assemble import assemble, services_for
from gateway.micro import routes as micro_routes
from gateway.micro.capture import Capture
from gateway.micro.recorder import Recorder
from gateway.middleware.rate_limit import RateLimits
from gateway.tokens import issue_token, parse_ttl
from pipeline.config import Settings
from pipeline.governance.key_ring import KeyRing
from pipeline.governance.viewer_keys import ViewerKeys
from pipeline.store.local import LocalStore

# In the order of the OpenAPI document.
MICRO = (ingest, legacy, health, sdk_files, player, demo)
TOKEN_TTL = "30d"


@dataclass(frozen=True)
class Micro:
    app: ASGIApp
    recorder: Recorder
    token: str
    data_dir: Path


@functools.cache
def _document() -> dict[str, Any]:
    return openapi.document((*MICRO, micro_routes))


def create_micro(data_dir: Path, organization: str = "micro", project: str = "micro") -> Micro:
    """A Micro whose organization registry (value policies, legacy group keys) is read from
    `data_dir`/bucket; its events stay in memory. Tokens and viewer ids are signed and keyed with keys
    made now, so every start is a stranger to every other."""
    token_keys = KeyRing((("micro", secrets.token_urlsafe(32).encode()),))
    settings = Settings(data_dir=data_dir, queue="micro", store=f"file://{data_dir / 'bucket'}",
                        query_engine="duckdb", athena_workgroup=None, athena_output=None,
                        token_keys=token_keys)
    recorder = Recorder()
    services = services_for(settings, recorder, store=LocalStore(data_dir / "bucket"),
                            viewer_keys=ViewerKeys(KeyRing((("v1", secrets.token_urlsafe(32).encode()),))))
    token = issue_token(token_keys, organization, project, ttl=parse_ttl(TOKEN_TTL))
    own = micro_routes.routes(recorder, services.recent_ids,
                              {"token": token, "organization_id": organization, "project_id": project})
    app = assemble(services, MICRO, extra=[*own, *openapi.routes(_document())],
                   rate_limits=RateLimits(per_address=None, per_token=None))
    return Micro(Capture(app, recorder, (ingest.PATH, *legacy.PATHS_TRACK)), recorder, token, data_dir)
