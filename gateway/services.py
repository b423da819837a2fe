"""What the route modules share, built once per app by `create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.duplicates import RecentIds
from gateway.enqueuer import Enqueuer
from gateway.tokens import TokenVerifier


@dataclass(frozen=True)
class Services:
    tokens: TokenVerifier
    enqueuer: Enqueuer
    recent_ids: RecentIds
