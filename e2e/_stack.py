"""The servers of the end-to-end tests: gateway, player and host page on three loopback origins.

The gateway is the real app over the real local queue; the player origin is a second instance of
the same app (the SDK must assume nothing about where the player lives); the host origin serves the
pages of e2e/pages and a first-party proxy path to the gateway; a fourth origin plays the foreign
frame that forges player messages. Faults are injected at the queue, so the 503s come from the
gateway's own code.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.middleware.rate_limit import RateLimits
from gateway.tokens import issue_token
from pipeline.config import Settings
from pipeline.layout import raw_prefix
from pipeline.queue.base import Message, QueueUnavailable
from pipeline.queue.local import LocalQueue
from pipeline.raw import rawfile
from pipeline.raw.writer import drain_batch
from pipeline.store.local import LocalStore

PAGES = Path(__file__).resolve().parent / "pages"
INDIVIDEO_PAGES = PAGES.parents[1] / "fixtures" / "individeo" / "pages"  # served beside PAGES
FIELD_PAGES = INDIVIDEO_PAGES.parent / "field"  # and the field patterns
PROXY_PATH = "/percus-proxy/v1"
RECIPIENT = "recipient-7Qm2-do-not-leak"  # must never appear in any request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FlakyQueue:
    """The local queue, refusing the next `fail_next(n)` sends as an unavailable queue would."""

    io_bound = False

    def __init__(self, queue: LocalQueue) -> None:
        self._queue = queue
        self._failures = 0
        self._lock = threading.Lock()

    def fail_next(self, sends: int) -> None:
        with self._lock:
            self._failures = sends

    def send(self, bodies: Sequence[bytes]) -> None:
        with self._lock:
            if self._failures:
                self._failures -= 1
                raise QueueUnavailable("injected by the e2e test")
        self._queue.send(bodies)

    def receive(self, max_messages: int, wait_seconds: float) -> list[Message]:
        return self._queue.receive(max_messages, wait_seconds)

    def delete(self, receipts: Sequence[str]) -> None:
        self._queue.delete(receipts)

    def release(self, receipts: Sequence[str], delay: float) -> None:
        self._queue.release(receipts, delay)

    def close(self) -> None:
        self._queue.close()


class Server:
    """A uvicorn server on a loopback port, in a thread."""

    def __init__(self, app: Any, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                     access_log=False, ws="none", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, name=f"e2e-server-{port}", daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


@dataclass(frozen=True)
class Received:
    """One HTTP request as the gateway received it."""

    method: str
    path: str
    length: int  # Content-Length, 0 when absent


class RequestLog:
    """An ASGI app that notes every HTTP request before handing it to `app`: what reached the
    server, which the browser's own log cannot tell (a CORS preflight, a keepalive sent at unload)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.received: list[Received] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            length = int(headers.get(b"content-length", 0))
            self.received.append(Received(scope["method"], scope["path"], length))
        await self.app(scope, receive, send)


def _pages_app(context: Callable[[Request], dict[str, Any]], gateway: str) -> Starlette:
    """The host origin: pages rendered from e2e/pages, and the first-party proxy to the gateway."""
    templates = jinja2.Environment(loader=jinja2.FileSystemLoader([PAGES, INDIVIDEO_PAGES, FIELD_PAGES]),
                                   autoescape=True, undefined=jinja2.StrictUndefined)

    async def page(request: Request) -> Response:
        name = request.path_params["name"]
        return HTMLResponse(templates.get_template(name).render(context(request)))

    async def proxy(request: Request) -> Response:
        # What a customer's reverse proxy does: same path below its prefix, same query and body.
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"{gateway}/analytics/v1/events", params=request.query_params,
                                       content=await request.body(),
                                       headers={"Content-Type": request.headers["content-type"],
                                                "User-Agent": request.headers.get("user-agent", "")})
        headers = {name: answer.headers[name] for name in ("retry-after",) if name in answer.headers}
        return Response(answer.content, answer.status_code, headers, media_type="application/json")

    async def sentinel(request: Request) -> Response:
        return Response(status_code=204)

    return Starlette(routes=[
        Route("/pages/{name}", page),
        Route(f"{PROXY_PATH}/events", proxy, methods=["POST"]),
        Route("/sentinel", sentinel),
    ])


@dataclass
class Stack:
    settings: Settings
    queue: FlakyQueue
    store: LocalStore
    gateway: str
    player: str
    host: str
    foreign: str
    dead: str  # a loopback URL nothing listens on
    received: list[Received] = field(default_factory=list)  # every request the gateway received

    def organization(self) -> str:
        """A fresh organization per test: its events are told apart from every other test's."""
        return f"e2e-{uuid.uuid4().hex[:10]}"

    def page_url(self, name: str, organization_id: str, **params: str) -> str:
        query = httpx.QueryParams({"org": organization_id, **params})
        return f"{self.host}/pages/{name}?{query}"

    def events(self, organization_id: str) -> list[dict[str, Any]]:
        """The organization's events the gateway enqueued so far, as the raw writer stored them, in the
        order they occurred (a stable sort: events of one request that share a millisecond keep theirs)."""
        while drain_batch(self.queue, self.store, max_wait=0).received:
            pass
        events = [event for key in sorted(self.store.list(raw_prefix(organization_id)))
                  for event in rawfile.decode(self.store.get(key))]
        return sorted(events, key=lambda event: event["occurred_at"])

    def wait_for(self, organization_id: str, until: Callable[[list[dict[str, Any]]], bool],
                 timeout: float = 30) -> list[dict[str, Any]]:
        """The organization's events once `until` holds for them (they travel asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events(organization_id)
            if until(events):
                return events
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting; the gateway has: {json.dumps(types(events))}")
            time.sleep(0.1)


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["event_type"] for event in events]


def has(*event_types: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda events: set(event_types) <= set(types(events))


def start_stack(settings: Settings) -> Iterator[Stack]:
    queue = FlakyQueue(LocalQueue(settings.data_dir / "queue"))
    store = LocalStore(settings.data_dir / "bucket")
    ports = {name: free_port() for name in ("gateway", "player", "host", "foreign", "dead")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}

    def context(request: Request) -> dict[str, Any]:
        organization_id = request.query_params.get("org", "e2e")
        return {**urls, "token": issue_token(settings.token_keys, organization_id, "spring-campaign"),
                "recipient": RECIPIENT, "params": dict(request.query_params)}

    log = RequestLog(create_app(settings, queue, rate_limits=RateLimits()))
    servers = [
        Server(log, ports["gateway"]),
        Server(create_app(settings, queue, rate_limits=RateLimits()), ports["player"]),
        Server(_pages_app(context, urls["gateway"]), ports["host"]),
        Server(_pages_app(context, urls["gateway"]), ports["foreign"]),
    ]
    for server in servers:
        server.start()
    try:
        yield Stack(settings, queue, store, urls["gateway"], urls["player"], urls["host"], urls["foreign"],
                    urls["dead"], log.received)
    finally:
        for server in servers:
            server.stop()
        queue.close()
