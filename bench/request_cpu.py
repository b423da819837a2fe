"""The app's CPU per single-event POST, in-process: the ingest app as a `percus serve` gateway worker
builds it (percus/gateway_worker.py: metrics, recent ids and rate-limit buckets shared through a run
dir, a local queue opened as one of several senders) called through raw ASGI (scope, receive, send:
no HTTP server, no sockets), each request a browser's single event with a fresh id; against the bare
Starlette endpoint (bench/_bare_app.py) called the same way. What is left is the app's own work,
which wrk's figures (bench/ingest.py) bury under uvicorn's and the kernel's.

Each round sends 3000 requests (quick: 2000) one after another on uvloop, as a lone connection would
(one queue append per request; under load, the requests of a loop turn share one); the least CPU of 5
rounds (quick: 3) counts. Then where the time goes: the ingest endpoint alone, called as the router
calls it, so the rest is what the app does before it (CORS, the rate limits, the body limit: in one
pass, gateway/middleware/hot_path.py); `--profile` adds cProfile's top functions.

    python -m bench.request_cpu [--quick] [--profile] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import mmap
import pstats
import tempfile
import time
import uuid
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path

import uvloop
from starlette.types import ASGIApp, Message, Receive, Scope

from bench._harness import Report

PATH = "/analytics/v1/events"
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
ORIGIN = "https://shop.example.com"
CLIENT = "203.0.113.7"  # not loopback: the rate limits are taken, as for any browser

App = ASGIApp


def event() -> bytes:
    """One event with a fresh id, as bench/ingest.py's wrk script sends it."""
    return ('{"event_id":"ID","schema_version":"1","event_type":"video.progressed",'
            '"occurred_at":"2026-11-25T10:00:00.123Z","sent_at":"2026-11-25T10:00:00.200Z",'
            '"session_id":"6f1c1a9e-3d5b-4a51-9d0e-2b8e8a3c6e10","template_id":"t-1","locale":"es-CL",'
            '"viewer_hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",'
            '"consent":{"tracking":true},"payload":{"position_ms":15000,"percent":25}}'
            .replace("ID", str(uuid.uuid4()))).encode()


def requests(token: str, count: int) -> list[tuple[Scope, Receive]]:
    """`count` scopes and receive callables as uvicorn's httptools protocol makes them, each with a
    fresh event id: a browser's POST with the headers a page's fetch sends."""
    made = []
    for _ in range(count):
        body = event()
        headers = [
            (b"host", b"analytics.example.com"), (b"connection", b"keep-alive"),
            (b"content-length", str(len(body)).encode()), (b"user-agent", USER_AGENT.encode()),
            (b"content-type", b"text/plain;charset=UTF-8"), (b"accept", b"*/*"),
            (b"origin", ORIGIN.encode()), (b"sec-fetch-site", b"cross-site"), (b"sec-fetch-mode", b"cors"),
            (b"referer", ORIGIN.encode() + b"/product/42"), (b"accept-encoding", b"gzip, deflate, br"),
            (b"accept-language", b"es-CL,es;q=0.9,en;q=0.8"), (b"authorization", b"Bearer " + token.encode()),
        ]
        scope: Scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
                        "http_version": "1.1", "server": ("127.0.0.1", 8000), "client": (CLIENT, 51234),
                        "scheme": "http", "method": "POST", "root_path": "", "path": PATH,
                        "raw_path": PATH.encode(), "query_string": b"", "headers": headers, "state": {}}
        made.append((scope, _receive(body)))
    return made


def _receive(body: bytes) -> Receive:
    message: Message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> Message:
        return message

    return receive


class _Answers:
    """The send callable: keeps the statuses, to check that every request was accepted."""

    def __init__(self) -> None:
        self.statuses: list[int] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.statuses.append(message["status"])


def cpu_per_request(loop: asyncio.AbstractEventLoop, app: App, made: Iterator[tuple[Scope, Receive]],
                    count: int, profile: cProfile.Profile | None = None) -> float:
    """CPU µs per request for `count` requests of `made`, sent one after the other."""
    batch = [next(made) for _ in range(count)]
    answers = _Answers()

    async def run() -> float:
        started = time.process_time()
        if profile is not None:
            profile.enable()
        for scope, receive in batch:
            await app(scope, receive, answers)
        if profile is not None:
            profile.disable()
        return time.process_time() - started

    gc.collect()
    spent = loop.run_until_complete(run())
    refused = [status for status in answers.statuses if status != 202]
    if refused or len(answers.statuses) != count:
        raise SystemExit(f"{len(refused)} of {count} requests not answered 202 (first: {refused[:1]})")
    return spent / count * 1e6


@contextmanager
def worker_app(data_dir: Path) -> Iterator[tuple[App, App, str]]:
    """The app of a gateway worker of `percus serve` on `data_dir` (as percus/gateway_worker.py builds
    it, the rate limits high enough never to refuse), its ingest endpoint alone, and a share token."""
    from gateway.app import create_app
    from gateway.ingest import Ingest
    from gateway.instruments import Metrics
    from gateway.middleware.rate_limit import Limit, RateLimits
    from gateway.shared.buckets import FILE_NAME as BUCKETS_FILE
    from gateway.shared.buckets import SharedBuckets
    from gateway.shared.recent_ids import FILE_NAME as RECENT_IDS_FILE
    from gateway.shared.recent_ids import SharedRecentIds
    from gateway.tokens import issue_token
    from pipeline.backends import open_queue
    from pipeline.config import load_settings

    settings = load_settings({"PERCUS_DATA_DIR": str(data_dir)})
    run_dir = data_dir / "run"
    run_dir.mkdir(parents=True)
    SharedRecentIds.create(run_dir)
    salt = SharedBuckets.create(run_dir)
    for name in (RECENT_IDS_FILE, BUCKETS_FILE):
        _fault_in(run_dir / name)
    queue = open_queue(settings, receives=False, sole_sender=False)
    recent = SharedRecentIds.attach(run_dir)
    buckets = SharedBuckets.attach(run_dir, salt)
    try:
        unlimited = Limit(1e9, 1e9)  # taken, never refusing
        app = create_app(settings, queue, instruments=Metrics.shared(run_dir, "worker-0"), recent_ids=recent,
                         shared_buckets=buckets, rate_limits=RateLimits(per_address=unlimited,
                                                                        per_token=unlimited))
        endpoint = next(route.app for route in app.routes  # type: ignore[attr-defined]
                        if getattr(route, "path", None) == PATH and isinstance(route.app, Ingest))  # type: ignore[attr-defined]
        yield app, endpoint, issue_token(settings.token_keys, "bench", "p1", origins=[ORIGIN])
    finally:
        recent.close()
        buckets.close()
        queue.close()


def _fault_in(path: Path) -> None:
    """Writes every page of a shared table once, as a worker that has served a while has: fresh ids
    land on random pages of the recent ids' 48 MiB, and a first write to a page costs a fault that
    a server pays in its first minutes only."""
    from gateway.shared.mapped_file import MappedFile

    file = MappedFile(path)
    try:
        memory = file.memory
        for offset in range(0, len(memory), mmap.PAGESIZE):
            memory[offset] = memory[offset]  # the same byte: nothing changes but the page is mapped
    finally:
        file.close()


def _least(loop: asyncio.AbstractEventLoop, app: App, made: Iterator[tuple[Scope, Receive]], count: int,
           rounds: int) -> float:
    return min(cpu_per_request(loop, app, made, count) for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (a few seconds)")
    parser.add_argument("--profile", action="store_true", help="also cProfile one round of the app")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    count, rounds = (2000, 3) if args.quick else (3000, 5)
    report = Report("request_cpu")
    from bench._bare_app import app as bare

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as data_dir, worker_app(Path(data_dir)) as (app, endpoint, token):
        loop.run_until_complete(_lifespan(app, loop))
        made = iter(requests(token, count * (3 * rounds + 2) + 200))
        # Warm-up: the first requests build caches (the token's, the value policy's, the server fields').
        cpu_per_request(loop, app, made, 200)
        # Interleaved, so that a neighbour's load on the machine weighs on both sides alike.
        bare_us, app_us, endpoint_us = [], [], []
        for _ in range(rounds):
            bare_us.append(cpu_per_request(loop, bare, made, count))
            app_us.append(cpu_per_request(loop, app, made, count))
            endpoint_us.append(cpu_per_request(loop, endpoint, made, count))
        least_bare, least_app, least_endpoint = min(bare_us), min(app_us), min(endpoint_us)
        report.add("bare starlette, app CPU per request", least_bare, "us")
        # Bare's CPU over ours: the share of bare's throughput the app's own work leaves.
        report.add("ingest single, app CPU per request", least_app, "us", least_bare / least_app,
                   "bare starlette")
        report.add("ingest endpoint alone, CPU per request", least_endpoint, "us")
        report.add("middleware and routing, CPU per request", least_app - least_endpoint, "us")
        if args.profile:
            profile = cProfile.Profile()
            cpu_per_request(loop, app, made, count, profile)
            pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    loop.close()
    report.write_json(args.json)


async def _lifespan(app: App, loop: asyncio.AbstractEventLoop) -> None:
    """The app's start (its validators, ua-parser's rules), as uvicorn runs it before serving."""
    started = asyncio.Event()
    messages = iter([{"type": "lifespan.startup"}])

    async def receive() -> Message:
        message = next(messages, None)
        if message is None:
            await asyncio.Event().wait()  # never shut down: the process ends
        return message  # type: ignore[return-value]

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()
        elif message["type"] == "lifespan.startup.failed":
            raise SystemExit(f"the app failed to start: {message.get('message')}")

    lifespan: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    loop.create_task(_started(app(lifespan, receive, send)))
    await started.wait()


async def _started(running: Awaitable[None]) -> None:
    await running


if __name__ == "__main__":
    main()
