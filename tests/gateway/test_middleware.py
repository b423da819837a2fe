from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.middleware.body_limit import BodyLimitMiddleware
from gateway.middleware.rate_limit import Limit, RateLimiter, RateLimitMiddleware, RateLimits
from gateway.shared.buckets import SharedBuckets
from gateway.tokens import issue_token
from pipeline.config import Settings
from pipeline.queue.local import LocalQueue
from tests.gateway._client import EVENTS, Gateway
from tests.gateway._events import event


def _client(settings: Settings, queue: LocalQueue, limits: RateLimits) -> TestClient:
    return TestClient(create_app(settings, queue, rate_limits=limits))


def _post(client: TestClient, token: str) -> httpx.Response:
    return client.post(EVENTS, content=json.dumps(event()),
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                                "Origin": "https://www.bank.cl"})


# --- CORS -------------------------------------------------------------------------------------------

def test_preflight_is_answered_and_cacheable(gateway: Gateway) -> None:
    response = gateway.client.options(EVENTS, headers={
        "Origin": "https://www.bank.cl", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert int(response.headers["Access-Control-Max-Age"]) >= 3600
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert gateway.queued() == []


def test_cross_origin_responses_carry_cors_headers_even_when_refused(gateway: Gateway) -> None:
    accepted = _post(gateway.client, gateway.token())
    refused = _post(gateway.client, "bad-token")
    for response in (accepted, refused):
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "retry-after" in response.headers["Access-Control-Expose-Headers"].lower()
        assert "Access-Control-Allow-Credentials" not in response.headers
    assert (accepted.status_code, refused.status_code) == (202, 401)


def test_same_origin_requests_get_no_cors_headers(gateway: Gateway) -> None:
    response = gateway.client.get("/healthz")
    assert "Access-Control-Allow-Origin" not in response.headers


# --- rate limits --------------------------------------------------------------------------------------

def test_429_per_client_address_with_retry_after(settings: Settings, queue: LocalQueue) -> None:
    limits = RateLimits(per_address=Limit(rate=0.5, burst=2), per_token=None, exempt=frozenset())
    with _client(settings, queue, limits) as client:
        token = Gateway(client, queue, settings).token()
        statuses = [_post(client, token).status_code for _ in range(3)]
        assert statuses == [202, 202, 429]
        limited = _post(client, token)
        assert limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 2
        assert limited.headers["Access-Control-Allow-Origin"] == "*"
        assert client.get("/healthz").status_code == 200  # only POSTs are limited
    assert len(Gateway(client, queue, settings).queued()) == 2


def test_429_per_token_leaves_other_tokens_alone(settings: Settings, queue: LocalQueue) -> None:
    limits = RateLimits(per_address=None, per_token=Limit(rate=0.1, burst=1), exempt=frozenset())
    with _client(settings, queue, limits) as client:
        gateway = Gateway(client, queue, settings)
        busy, quiet = gateway.token(), gateway.token(project_id="other")
        assert _post(client, busy).status_code == 202
        assert _post(client, busy).status_code == 429
        assert _post(client, quiet).status_code == 202
        query = client.post(f"{EVENTS}?token={busy}", content=json.dumps(event()),
                            headers={"Content-Type": "text/plain"})
        assert query.status_code == 429  # the same token in the query string shares the bucket


def test_exempt_addresses_are_not_limited(settings: Settings, queue: LocalQueue) -> None:
    limits = RateLimits(per_address=Limit(rate=0.1, burst=1), per_token=Limit(rate=0.1, burst=1),
                        exempt=frozenset({"testclient"}))  # TestClient's client address
    with _client(settings, queue, limits) as client:
        token = Gateway(client, queue, settings).token()
        assert [_post(client, token).status_code for _ in range(5)] == [202] * 5


def test_limits_from_the_environment() -> None:
    limits = RateLimits.from_env({"PERCUS_RATE_LIMIT_PER_ADDRESS": "50:100",
                                  "PERCUS_RATE_LIMIT_PER_TOKEN": "off",
                                  "PERCUS_RATE_LIMIT_EXEMPT": "10.0.0.1, ::1"})
    assert limits == RateLimits(per_address=Limit(50, 100), per_token=None,
                                exempt=frozenset({"10.0.0.1", "::1"}))
    assert RateLimits.from_env({}) == RateLimits()
    with pytest.raises(ValueError):
        RateLimits.from_env({"PERCUS_RATE_LIMIT_PER_ADDRESS": "-5:10"})


def test_loopback_is_exempt_by_default(settings: Settings, queue: LocalQueue) -> None:
    # Benchmarks and a local proxy talk from loopback; the defaults must not throttle them.
    app = create_app(settings, queue, rate_limits=RateLimits(per_address=Limit(0.1, 1)))
    token = issue_token(settings.token_keys, "acme", "spring-campaign")

    async def send_many() -> list[int]:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return [(await client.post(EVENTS, content=json.dumps(event()), headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json"})).status_code
                for _ in range(5)]

    assert asyncio.run(send_many()) == [202] * 5


# --- body limit ----------------------------------------------------------------------------------------

def test_streamed_body_stops_being_read_past_the_limit() -> None:
    read: list[int] = []

    async def echo_size(request: Request) -> Response:
        async for chunk in request.stream():
            read.append(len(chunk))
        return Response(str(sum(read)))

    app = Starlette(routes=[Route("/", echo_size, methods=["POST"])],
                    middleware=[Middleware(BodyLimitMiddleware, limit=1000)])
    produced = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal produced
        for _ in range(100):
            produced += 1
            yield b"x" * 300

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.post("/", content=body())

    response = asyncio.run(send())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert response.headers["Connection"] == "close"
    assert sum(read) <= 1000  # the app never saw bytes past the limit
    assert produced < 10  # and the rest of the body was never pulled from the client


def test_bodies_within_the_limit_pass_untouched(tmp_path: Path) -> None:
    async def echo(request: Request) -> Response:
        return Response(await request.body())

    app = Starlette(routes=[Route("/", echo, methods=["POST"])],
                    middleware=[Middleware(BodyLimitMiddleware, limit=1000)])
    with TestClient(app) as client:
        assert client.post("/", content=b"y" * 1000).content == b"y" * 1000
        assert client.post("/", content=b"y" * 1001).status_code == 413


def test_buckets_refill_over_time() -> None:
    now = [0.0]

    async def ok(request: Request) -> Response:
        return Response(status_code=204)

    app = Starlette(routes=[Route("/", ok, methods=["POST"])], middleware=[Middleware(
        RateLimitMiddleware, limits=RateLimits(per_address=Limit(rate=2, burst=1), exempt=frozenset()),
        clock=lambda: now[0])])
    with TestClient(app) as client:
        assert client.post("/").status_code == 204
        refused = client.post("/")
        assert (refused.status_code, refused.headers["Retry-After"]) == (429, "1")
        now[0] += 0.5  # rate 2/s: one request's worth
        assert client.post("/").status_code == 204
        assert client.post("/").status_code == 429


# --- the ingest's hot path ------------------------------------------------------------------------------

def _three_ways(client: TestClient, token: str, headers: dict[str, str]) -> list[httpx.Response]:
    """The same POST through the hot path (a Content-Length), and through the middleware chain, as the
    hot path leaves a streamed body (none) and a header it reads sent twice."""

    def streamed(body: bytes) -> Iterator[bytes]:
        yield body

    sent = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers}
    return [client.post(EVENTS, content=json.dumps(event()).encode(), headers=sent),
            client.post(EVENTS, content=streamed(json.dumps(event()).encode()), headers=sent),
            client.post(EVENTS, content=json.dumps(event()).encode(),
                        headers=[*sent.items(), ("Authorization", f"Bearer {token}")])]


@pytest.mark.parametrize("headers", [{"Origin": "https://www.bank.cl"}, {}])
def test_the_hot_path_answers_as_the_chain_does(gateway: Gateway, headers: dict[str, str]) -> None:
    for token, status in ((gateway.token(), 202), ("bad-token", 401),
                          (gateway.token(origins=["https://other.example"]), 403 if headers else 202)):
        answers = _three_ways(gateway.client, token, headers)
        assert [answer.status_code for answer in answers] == [status] * 3
        assert len({answer.content for answer in answers}) == 1
        assert len({tuple(sorted(answer.headers.multi_items())) for answer in answers}) == 1
        assert ("access-control-allow-origin" in answers[0].headers) == bool(headers)
    assert len(gateway.queued()) == 3 * (1 if headers else 2)


def test_the_hot_path_and_the_chain_count_in_the_same_buckets(settings: Settings, queue: LocalQueue) -> None:
    limits = RateLimits(per_address=None, per_token=Limit(rate=0.001, burst=3), exempt=frozenset())
    with _client(settings, queue, limits) as client:
        token = Gateway(client, queue, settings).token()
        answers = _three_ways(client, token, {"Origin": "https://www.bank.cl"})
        assert [answer.status_code for answer in answers] == [202, 202, 202]
        limited = _three_ways(client, token, {"Origin": "https://www.bank.cl"})
        assert [answer.status_code for answer in limited] == [429, 429, 429]
        assert len({tuple(sorted(answer.headers.multi_items())) for answer in limited}) == 1
        assert limited[0].headers["Access-Control-Allow-Origin"] == "*"
        assert int(limited[0].headers["Retry-After"]) >= 1


class _FailingQueue(LocalQueue):
    """A queue failing in a way nobody foresaw (not QueueUnavailable)."""

    def send(self, bodies: Sequence[bytes]) -> None:
        raise RuntimeError("the disk caught fire")


def test_an_unexpected_failure_is_a_json_500_without_cors_and_reaches_the_log(settings: Settings) -> None:
    queue = _FailingQueue(settings.data_dir / "queue")
    try:
        app = create_app(settings, queue, rate_limits=RateLimits())
        with TestClient(app, raise_server_exceptions=False) as client:
            token = Gateway(client, queue, settings).token()
            answers = _three_ways(client, token, {"Origin": "https://www.bank.cl"})
        assert [answer.status_code for answer in answers] == [500] * 3
        assert {answer.json()["error"]["code"] for answer in answers} == {"internal_error"}
        assert not any("access-control-allow-origin" in answer.headers for answer in answers)
        # And the failure reaches the server, which logs it.
        with TestClient(app) as client, pytest.raises(RuntimeError, match="caught fire"):
            client.post(EVENTS, content=json.dumps(event()).encode(), headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    finally:
        queue.close()


def test_shared_buckets_limit_as_the_processs_own(tmp_path: Path) -> None:
    # Address then token, under one lock in the shared table: a POST its address refuses takes
    # nothing from its token's bucket, as with the process's own buckets.
    limits = RateLimits(per_address=Limit(rate=1, burst=2), per_token=Limit(rate=0.5, burst=3),
                        exempt=frozenset())
    salt = SharedBuckets.create(tmp_path, capacity=100)
    shared = SharedBuckets.attach(tmp_path, salt)
    now = [0.0]
    try:
        own = RateLimiter(limits, clock=lambda: now[0])
        in_table = RateLimiter(limits, clock=lambda: now[0], shared=shared)
        posts = [("10.0.0.1", "t1"), ("10.0.0.1", "t1"), ("10.0.0.1", "t1"), ("10.0.0.2", "t1"),
                 ("10.0.0.2", "t1"), ("10.0.0.3", None), ("10.0.0.3", "t2"), ("10.0.0.3", "t1")]
        waits = []
        for step, (address, token) in enumerate(posts * 2):
            now[0] = step * 0.25
            sent = functools.partial(lambda token: token, token)
            waits.append((own.wait(address, sent), in_table.wait(address, sent)))
        assert [mine for mine, _ in waits] == [theirs for _, theirs in waits]
        assert sum(1 for mine, _ in waits if mine) >= 4  # both limits refused some
    finally:
        shared.close()


def test_a_full_window_of_shared_buckets_forgets_the_least_recently_counted(tmp_path: Path) -> None:
    shared = SharedBuckets.attach(tmp_path, SharedBuckets.create(tmp_path, capacity=1))  # 16 slots
    limit = Limit(rate=0.001, burst=1)
    keys = [bytes(8) + bytes([number]) * 8 for number in range(1, 11)]  # one home slot: one window of 8
    try:
        assert [shared.take(limit, key, float(step)) for step, key in enumerate(keys[:8])] == [0.0] * 8
        assert shared.take(limit, keys[0], 8.0) > 0  # counted again, so now the most recent
        assert shared.take(limit, keys[8], 9.0) == 0.0  # the window is full: keys[1]'s bucket goes
        assert shared.take(limit, keys[1], 10.0) == 0.0  # forgotten, so full again (keys[2]'s goes)
        assert shared.take(limit, keys[0], 11.0) > 0  # still counted
        assert shared.take(limit, keys[3], 12.0) > 0
    finally:
        shared.close()
