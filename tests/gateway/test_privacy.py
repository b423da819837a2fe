"""Nothing that identifies the client's network or browser build may reach the queue's bytes."""

from __future__ import annotations

import asyncio
import json

import httpx

from gateway.app import create_app
from gateway.middleware.rate_limit import RateLimits
from gateway.tokens import issue_token
from pipeline.config import Settings
from pipeline.queue.local import LocalQueue
from tests.gateway._client import EVENTS
from tests.gateway._events import event

FORWARDED_IP = "203.0.113.197"
SOCKET_IP = "198.51.100.231"
USER_AGENT = ("Mozilla/5.0 (Linux; Android 13; PrivacyProbe-Z9) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/119.0.6045.163 Mobile Safari/537.36 UniqueAgentMarker/4.2")
REFERER = "https://landing.example.org:8443/private-campaign/page?email=alice%40example.com&marker=qzx7"
FORBIDDEN = [FORWARDED_IP, SOCKET_IP, USER_AGENT, "PrivacyProbe", "UniqueAgentMarker", "private-campaign",
             "alice", "qzx7"]


def test_no_address_user_agent_or_referrer_path_is_stored(settings: Settings, queue: LocalQueue) -> None:
    app = create_app(settings, queue, rate_limits=RateLimits())
    token = issue_token(settings.token_keys, "acme", "spring-campaign")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "User-Agent": USER_AGENT, "X-Forwarded-For": f"{FORWARDED_IP}, 10.0.0.1",
               "X-Real-IP": FORWARDED_IP, "Forwarded": f"for={FORWARDED_IP}", "Referer": REFERER,
               "CloudFront-Viewer-Country": "CL"}
    # Identifiers smuggled in the body as unknown fields must be dropped as well.
    smuggled = {"ip": FORWARDED_IP, "user_agent": USER_AGENT, "referrer": REFERER}
    single = event("video.played") | smuggled
    batch = {"events": [event("cta.clicked") | smuggled, event("video.errored", consent=None) | smuggled]}

    async def send() -> list[int]:
        transport = httpx.ASGITransport(app=app, client=(SOCKET_IP, 51234))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return [(await client.post(EVENTS, content=json.dumps(body), headers=headers)).status_code
                    for body in (single, batch)]

    assert asyncio.run(send()) == [202, 202]
    queue.close()  # flushes everything the queue keeps to its files

    stored = b"".join(path.read_bytes() for path in settings.data_dir.rglob("*") if path.is_file())
    # The events are there (so the scan is not vacuous), with only the coarse parts kept...
    assert stored.count(b'"referrer_host":"landing.example.org"') == 3
    assert stored.count(b'"device":{"type":"mobile","os":"Android","browser":"Chrome Mobile"') == 3
    assert stored.count(b'"geo":{"country":"CL"}') == 3
    # ...and none of the identifying ones, in any encoding a JSON writer might use.
    for text in FORBIDDEN:
        for encoded in {text.encode(), json.dumps(text).encode()[1:-1], text.replace("/", "\\/").encode()}:
            assert encoded not in stored, text
