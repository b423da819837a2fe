"""The in-process gateway the tests drive, and how they read back what it queued."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.testclient import TestClient

from gateway.tokens import issue_token
from pipeline.config import Settings
from pipeline.governance.viewer_keys import load_viewer_keys
from pipeline.queue.base import Queue

# The first key signs; the second is an older key that still verifies (rotation).
TOKEN_KEYS = "k2:new-secret-for-tests,k1:old-secret-for-tests"
EVENTS = "/analytics/v1/events"


@dataclass
class Gateway:
    client: TestClient
    queue: Queue
    settings: Settings

    def token(self, organization_id: str = "acme", project_id: str = "spring-campaign", **claims: Any) -> str:
        return issue_token(self.settings.token_keys, organization_id, project_id, **claims)

    def post(self, body: Any, *, token: str | None = None, headers: dict[str, str] | None = None,
             content_type: str = "application/json") -> httpx.Response:
        """POST a JSON body with a share token for acme/spring-campaign unless another is given."""
        return self.client.post(
            EVENTS,
            content=body if isinstance(body, bytes) else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token or self.token()}", "Content-Type": content_type,
                     **(headers or {})},
        )

    def keyed(self, client_hash: str) -> str:
        """What the gateway stores for a client's viewer hash: keyed with the data dir's viewer key."""
        return load_viewer_keys({}, data_dir=self.settings.data_dir).keyed(client_hash)

    def queued(self) -> list[dict[str, Any]]:
        """Every event waiting in the queue (received and deleted, so each is returned once)."""
        messages = self.queue.receive(10_000, 0)
        self.queue.delete([message.receipt for message in messages])
        return [json.loads(message.body) for message in messages]
