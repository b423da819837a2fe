"""The webhook tests' harness: real HTTP receivers on 127.0.0.1 that verify every signature and fail on
purpose (503 n times, always 400, 429 with Retry-After, hanging past the client's timeout), an
injected clock, and helpers that land events through the real compactor and deliver them."""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipeline.curated.compactor import compact
from pipeline.governance.registry import OrganizationRegistry
from pipeline.store.base import Store
from pipeline.webhooks.policy import WebhookPolicy
from pipeline.webhooks.reports import WebhookReport
from pipeline.webhooks.run import run
from pipeline.webhooks.signatures import SIGNATURE_HEADER
from tests.pipeline._sessions import DAY1, Session, write_raw
from tests.pipeline.webhooks._receiver import SignatureError, verify_signature

SINCE = datetime(2026, 11, 1, tzinfo=UTC)  # before every event of the tests
T0 = 1_795_000_000.0  # the injected clock's start (epoch seconds, 2026-11-18)
POLICY = WebhookPolicy(max_attempts=4, base_delay=30, max_delay=600, timeout=0.3, batch_size=500)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Received:
    status: int | None  # None: the receiver hung and never answered in time
    headers: dict[str, str]
    body: bytes
    event_ids: list[str] = field(default_factory=list)


class Receiver:
    """An endpoint of one organization: checks the signature with its secret and the clock of the
    sender, and answers as planned (per request, then `default`): a status, or "hang"."""

    def __init__(self, org: str, clock: Clock, tls: ssl.SSLContext | None = None) -> None:
        self.org = org
        self.clock = clock
        self.secret = ""
        self.connections = 0  # accepted (after the TLS handshake, with `tls`)
        self.plan: list[int | str] = []
        self.default: int | str = 200
        self.requests: list[Received] = []
        self.rejected: list[str] = []  # why a request failed verification: must stay empty
        self.release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    action = receiver.plan.pop(0) if receiver.plan else receiver.default
                record = Received(None if action == "hang" else int(action), dict(self.headers), body)
                try:
                    verify_signature(receiver.secret, self.headers.get(SIGNATURE_HEADER, ""), body,
                                     now=receiver.clock())
                    events = json.loads(body)["events"]
                    if any(event["organization_id"] != receiver.org for event in events):
                        raise SignatureError("an event of another organization")
                    record.event_ids = [event["event_id"] for event in events]
                except (SignatureError, ValueError, KeyError) as exc:
                    receiver.rejected.append(str(exc))
                    action, record.status = 400, 400
                with receiver._lock:
                    receiver.requests.append(record)
                if action == "hang":
                    receiver.release.wait(1.0)
                    return  # the client has given up: nothing to answer
                self.send_response(int(action))
                if action == 429:
                    self.send_header("Retry-After", "120")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def verify_request(self, request: Any, client_address: Any) -> bool:
                receiver.connections += 1
                return True

        self.server = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/percus"

    def accepted(self) -> list[str]:
        """Event ids of the requests answered 2xx, in order: what the receiver took in."""
        return [event_id for request in self.requests if request.status == 200
                for event_id in request.event_ids]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


Receivers = dict[str, Receiver]  # organization -> its endpoint, made on first use


def hook(registry: OrganizationRegistry, receiver: Receiver, since: datetime = SINCE) -> None:
    """Create the receiver's organization with its webhook pointing at it."""
    if registry.get(receiver.org) is None:
        registry.create(receiver.org)
    secret = registry.set_webhook(receiver.org, receiver.url, since=since, allow_loopback=True)
    assert secret is not None and secret.startswith("whsec_")
    receiver.secret = secret


def events(org: str, count: int, start: datetime = DAY1 + timedelta(hours=10)) -> list[dict[str, Any]]:
    """`count` events of one session, a minute apart (so they span hours when there are many)."""
    session = Session(start, org=org).at(0, "session.started")
    for n in range(1, count):
        session.at(60 * n, "video.progressed", position_ms=1000 * n, percent=min(100.0, float(n)))
    return session.events


def land(store: Store, items: list[dict[str, Any]]) -> None:
    write_raw(store, items)
    compact(store)


def deliver(store: Store, clock: Clock, policy: WebhookPolicy = POLICY,
            **options: Any) -> WebhookReport:
    return run(store, policy=policy, clock=clock, jitter=lambda: 0.5, **options)


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [event["event_id"] for event in items]
