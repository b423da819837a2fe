"""Hostile input against a real `percus serve`: every answer a 4xx in the API's JSON error shape,
never a 5xx; memory bounded; slow clients dropped while others are served."""

from __future__ import annotations

import json
import re
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.reliability._serve import EVENTS, Server, event, local_store, raw_events, serving, token

pytestmark = pytest.mark.slow

READ_TIMEOUT = 5  # PERCUS_READ_TIMEOUT for this server (30 s by default)
WRITE_TIMEOUT = 2  # PERCUS_WRITE_TIMEOUT for this server (30 s by default)
LIMIT = 512 * 1024
HEAD_LIMIT = 64 * 1024  # request line and headers (docs/api.md, "Limits")
LEGACY = "/analytics/v1/indiTrack?evt=onCTA"


@dataclass
class Target:
    server: Server
    data_dir: Path
    token: str

    @property
    def port(self) -> int:
        return int(self.server.base.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("hostile")
    data_dir = root / "data"
    with serving(data_dir, root / "serve.log", PERCUS_READ_TIMEOUT=str(READ_TIMEOUT),
                 PERCUS_WRITE_TIMEOUT=str(WRITE_TIMEOUT)) as server:
        yield Target(server, data_dir, token(data_dir))
        output = server.output()
        assert server.stop() in (0, -signal.SIGTERM)
    for marker in ("Traceback", "Exception in ASGI application", "Internal Server Error"):
        assert marker not in output, output


def _nested(depth: int, wrap: tuple[bytes, bytes] = (b"[", b"]")) -> bytes:
    return wrap[0] * depth + b"1" + wrap[1] * depth


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


GOOD = event()
# (name, path, content type, body, status, error code)
CASES = [
    ("content-length over 512 KB", EVENTS, "application/json", b" " * (LIMIT + 1), 413, "body_too_large"),
    ("batch over 512 KB", EVENTS, "application/json",
     _json({"events": [event(payload={"cta_id": "c", "cta_name": "n" * 2000}, event_type="cta.clicked")
                       for _ in range(300)]}), 413, "body_too_large"),
    ("501 events", EVENTS, "application/json", _json({"events": [event() for _ in range(501)]}), 413,
     "too_many_events"),
    ("100,000 nested arrays", EVENTS, "application/json", _nested(100_000), 400, "malformed_json"),
    ("100,000 nested objects", EVENTS, "application/json", _nested(100_000, (b'{"":', b"}")), 400,
     "malformed_json"),
    ("nested inside a batch", EVENTS, "application/json", b'{"events":' + _nested(100_000) + b"}", 400,
     "malformed_json"),
    ("nested payload of a valid event", EVENTS, "application/json",
     _json({**GOOD, "payload": "PAYLOAD"}).replace(b'"PAYLOAD"', _nested(50_000, (b'{"p":', b"}"))), 400,
     "malformed_json"),
    ("nested legacy post", LEGACY, "application/json", _nested(100_000, (b'{"":', b"}")), 400,
     "malformed_json"),
    ("invalid UTF-8", EVENTS, "application/json", _json(GOOD).replace(b'"video.played"', b'"video.\xff\xfe"'),
     400, "malformed_json"),
    ("UTF-16 with BOM", EVENTS, "application/json", json.dumps(GOOD).encode("utf-16"), 400, "malformed_json"),
    ("UTF-16 declared", EVENTS, "application/json; charset=utf-16", json.dumps(GOOD).encode("utf-16-le"), 400,
     "malformed_json"),
    ("UTF-32", EVENTS, "application/json", json.dumps(GOOD).encode("utf-32"), 400, "malformed_json"),
    ("legacy UTF-16", LEGACY, "application/json", json.dumps({"event": "onCTA"}).encode("utf-16"), 400,
     "malformed_json"),
    ("empty body", EVENTS, "application/json", b"", 400, "malformed_json"),
    ("empty legacy body", LEGACY, "text/plain", b"", 400, "malformed_json"),
    ("whitespace body", EVENTS, "text/plain", b" \r\n\t ", 400, "malformed_json"),
    ("JSON null", EVENTS, "application/json", b"null", 400, "invalid_event"),
    ("JSON string", EVENTS, "application/json", b'"events"', 400, "invalid_event"),
    ("events not a list", EVENTS, "application/json", b'{"events": {"0": {}}}', 400, "invalid_batch"),
    ("empty batch", EVENTS, "application/json", b'{"events": []}', 400, "empty_batch"),
    ("huge event type", EVENTS, "application/json", _json({**GOOD, "event_type": "x" * 400_000}), 400,
     "unknown_event_type"),
    ("huge schema version", EVENTS, "application/json", _json({**GOOD, "schema_version": "9" * 400_000}), 400,
     "unsupported_schema_version"),
    ("huge identifier", EVENTS, "application/json",
     _json(event("cta.clicked", cta_id="c" * 400_000)), 400, "invalid_field"),
    ("huge event id", EVENTS, "application/json", _json({**GOOD, "event_id": "e" * 400_000}), 400,
     "invalid_field"),
    ("huge number", EVENTS, "application/json",
     _json(GOOD).replace(b'"position_ms": 0', b'"position_ms": ' + b"9" * 400_000), 400, "malformed_json"),
    ("NaN percent", EVENTS, "application/json",
     _json(event("video.progressed", position_ms=1, percent=1)).replace(b'"percent": 1', b'"percent": NaN'),
     400, "invalid_field"),
    ("form content type", EVENTS, "application/x-www-form-urlencoded", b"event_type=video.played", 415,
     "unsupported_media_type"),
    ("multipart", EVENTS, "multipart/form-data; boundary=x", b"--x\r\n\r\n{}\r\n--x--", 415,
     "unsupported_media_type"),
    ("html", EVENTS, "text/html", _json(GOOD), 415, "unsupported_media_type"),
    ("no content type", EVENTS, None, _json(GOOD), 415, "unsupported_media_type"),
    ("legacy form", LEGACY, "application/x-www-form-urlencoded", b"event=onCTA", 415,
     "unsupported_media_type"),
]


@pytest.mark.parametrize(("path", "content_type", "body", "status", "code"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_hostile_bodies_get_a_clear_json_4xx(target: Target, path: str, content_type: str | None, body: bytes,
                                             status: int, code: str) -> None:
    headers = {"Authorization": f"Bearer {target.token}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    answer = httpx.post(f"{target.server.base}{path}", content=body, headers=headers, timeout=30)
    assert answer.status_code == status, answer.text[:300]
    error = answer.json()["error"]
    assert error["code"] == code and isinstance(error["message"], str)
    assert len(answer.content) < 4096  # a refusal never echoes the body back


def test_huge_names_are_truncated_and_unknown_fields_never_stored(target: Target) -> None:
    sent = event("cta.clicked", cta_id="cta-1", cta_name="N" * 250_000, cta_value="\U0001f4b0" * 2_000)
    sent["smuggled"] = "S" * 50_000
    sent["payload"]["extra"] = "P" * 50_000  # type: ignore[index]
    answer = httpx.post(f"{target.server.base}{EVENTS}", json=sent,
                        headers={"Authorization": f"Bearer {target.token}"})
    assert answer.status_code == 202 and answer.json()["accepted"] == 1
    store = local_store(target.data_dir)
    deadline = time.monotonic() + 30
    while not (stored := [e for e in raw_events(store) if e["event_id"] == sent["event_id"]]):
        assert time.monotonic() < deadline, "the event was not written within 30 s"
        time.sleep(0.2)
    (line,) = stored
    assert line["payload"] == {"cta_id": "cta-1", "cta_name": "N" * 64, "cta_value": "\U0001f4b0" * 64,
                               "position_ms": None}
    assert "smuggled" not in line and len(json.dumps(line)) < 2048


# --- raw sockets: endless, slow and idle clients -----------------------------------------------------

def _connect(target: Target) -> socket.socket:
    return socket.create_connection(("127.0.0.1", target.port), timeout=30)


def _head(target: Target, extra: str, *, with_token: bool = True) -> bytes:
    auth = f"Authorization: Bearer {target.token}\r\n" if with_token else ""
    return (f"POST {EVENTS} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\n"
            f"{extra}\r\n").encode()


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (30 s at most: then it failed)."""
    received = b""
    try:
        while data := sock.recv(65536):
            received += data
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open; it sent {received[:200]!r}") from None
    return received


def _flood(sock: socket.socket, piece: bytes, limit: int) -> int:
    """Send `piece` until the server answers or closes, or `limit` bytes went; bytes sent."""
    sent = 0
    try:
        while sent < limit and not select.select([sock], [], [], 0)[0]:
            sock.sendall(piece)
            sent += len(piece)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def _status_and_error(response: bytes) -> tuple[int, dict[str, str]]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)["error"]


def test_endless_bodies_and_heads_are_cut_off_with_memory_bounded(target: Target) -> None:
    before = target.server.rss_bytes()
    chunk = b"x" * 65536
    piece = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    flood = 256 * 1024 * 1024  # what a client would push at most here, were it never stopped

    # A chunked body that never ends: refused at 512 KB, the connection closed.
    with _connect(target) as sock:
        sock.sendall(_head(target, "Transfer-Encoding: chunked\r\n"))
        sent = _flood(sock, piece, flood)
        status, error = _status_and_error(_until_closed(sock))
    assert (status, error["code"]) == (413, "body_too_large")
    assert sent < flood  # cut off long before the client gave up

    # The same without a token: answered 401 before the body is read; the body still never ends,
    # so the connection is closed once the request has taken longer than the read timeout.
    with _connect(target) as sock:
        sock.sendall(_head(target, "Transfer-Encoding: chunked\r\n", with_token=False))
        _flood(sock, piece, 64 * 1024 * 1024)
        status, error = _status_and_error(_until_closed(sock))
    assert (status, error["code"]) == (401, "token_missing")

    # Headers that never end: 431 once they pass the head limit.
    with _connect(target) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Junk: ")
        sent = _flood(sock, b"a" * 65536, flood)
        status, error = _status_and_error(_until_closed(sock))
    assert (status, error["code"]) == (431, "request_head_too_large")
    assert sent < flood

    growth = target.server.rss_bytes() - before
    assert growth < 100 * 1024 * 1024, f"server RSS grew by {growth / 1e6:.0f} MB"
    assert httpx.get(f"{target.server.base}/healthz").status_code == 200


def _sized_head(size: int, padded: str) -> bytes:
    """A GET /healthz whose request line and headers are `size` bytes, padded in the URL or a header."""
    template = {"url": "GET /healthz?pad={} HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                "header": "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {}\r\n"}[padded]
    template += "Connection: close\r\n\r\n"
    head = template.format("a" * (size - len(template) + 2)).encode()
    assert len(head) == size
    return head


def _answers(response: bytes) -> list[int]:
    """The status of each answer on a connection, in order."""
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", response)]


@pytest.mark.parametrize("padded", ["url", "header"])
@pytest.mark.parametrize("writes", [1, 16])
# 70 KB: a URL that long got uvicorn's plain-text 400 (its URL parser takes 64 KB at most), not the 431.
@pytest.mark.parametrize("size", [HEAD_LIMIT, HEAD_LIMIT + 1, 70 * 1024])
def test_a_request_head_is_limited_exactly_however_it_arrives(target: Target, padded: str, writes: int,
                                                              size: int) -> None:
    head = _sized_head(size, padded)
    piece = -(-len(head) // writes)
    with _connect(target) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for start in range(0, len(head), piece):
                sock.sendall(head[start:start + piece])
                time.sleep(0.01 if writes > 1 else 0)  # each piece in a read of its own, most likely
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = _until_closed(sock)
    assert _answers(response) == [200 if size <= HEAD_LIMIT else 431], response[:300]
    if size > HEAD_LIMIT:
        message = f"the request line and headers exceed {HEAD_LIMIT} bytes"
        assert _status_and_error(response)[1] == {"code": "request_head_too_large", "message": message}


@pytest.mark.parametrize("size", [HEAD_LIMIT, HEAD_LIMIT + 1])
def test_a_head_pipelined_after_a_request_with_a_body_is_limited_alike(target: Target, size: int) -> None:
    # In one write: the count must start where the first request's body ends, mid-read.
    first = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello"
    with _connect(target) as sock:
        sock.sendall(first + _sized_head(size, "header"))
        response = _until_closed(sock)
    assert _answers(response) == [200, 200 if size <= HEAD_LIMIT else 431], response[:300]


class SlowClient(threading.Thread):
    """Connects, sends `head`, then one byte of `trickle` a second until the server hangs up."""

    def __init__(self, target: Target, head: bytes, trickle: bytes) -> None:
        super().__init__(daemon=True)
        self.target, self.head, self.trickle = target, head, trickle
        self.connected = threading.Event()
        self.closed = threading.Event()
        self.bytes_sent = 0
        self.received = b""

    def run(self) -> None:
        with _connect(self.target) as sock:
            sock.sendall(self.head)
            self.connected.set()
            try:
                for byte in self.trickle:
                    if select.select([sock], [], [], 1.0)[0]:  # a second between bytes
                        break
                    sock.sendall(bytes([byte]))
                    self.bytes_sent += 1
                self.received = _until_closed(sock)
            except (BrokenPipeError, ConnectionResetError):
                pass
        self.closed.set()


def test_slow_clients_are_dropped_while_others_are_served(target: Target) -> None:
    body = json.dumps(event()).encode()
    # Far more bytes than the read timeout lets a byte-a-second client send: only the server's
    # timeout ends these before the test's own bound (30 s of socket timeout).
    slow = [
        SlowClient(target, _head(target, f"Content-Length: {len(body)}\r\n"), body),  # slow body
        SlowClient(target, b"", _head(target, f"Content-Length: {len(body)}\r\n") + body),  # slow head
        SlowClient(target, b"", b""),  # connects and sends nothing
    ]
    for client in slow:
        client.start()
    for client in slow:
        assert client.connected.wait(10)
    headers = {"Authorization": f"Bearer {target.token}"}
    with httpx.Client(base_url=target.server.base, headers=headers) as others:
        for _ in range(10):
            assert others.post(EVENTS, json=event()).status_code == 202
            assert others.get("/healthz").status_code == 200
    assert not any(client.closed.is_set() for client in slow[:2])  # served while they were still there
    for client in slow:
        client.join(timeout=60)
        assert client.closed.is_set(), "a slow client was never dropped"
    assert all(client.bytes_sent < len(body) for client in slow[:2])
    # The slow body's request had begun: nobody answered it, and nothing of it was stored.
    assert all(client.received == b"" for client in slow)


# A 90 KB answer: pipelined, a few dozen of them outgrow the kernel's buffers on the way (4 MB on loopback).
OPENAPI_REQUEST = b"GET /analytics/v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
TCP_ESTABLISHED, TCP_CLOSE = 1, 7


def _pipelining_client(target: Target, receive_buffer: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)  # before connecting: sets the window
    sock.settimeout(30)
    sock.connect(("127.0.0.1", target.port))
    return sock


def _tcp_state(sock: socket.socket) -> int:
    """The kernel's state of the connection (Linux TCP_INFO), seen without reading from it."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def _one_response(sock: socket.socket) -> bytes:
    received = b""
    while b"\r\n\r\n" not in received:
        received += _recv(sock)
    head, _, body = received.partition(b"\r\n\r\n")
    (length,) = [int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                 if line.startswith(b"content-length:")]
    while len(body) < length:
        body += _recv(sock)
    return head + b"\r\n\r\n" + body


def _recv(sock: socket.socket) -> bytes:
    if not (data := sock.recv(65536)):
        raise AssertionError("the server closed the connection")
    return data


def test_a_client_that_never_reads_its_answers_is_reset(target: Target) -> None:
    with _pipelining_client(target, 4096) as sock:
        sock.sendall(OPENAPI_REQUEST * 200)  # 18 MB of answers, and none of them read
        deadline = time.monotonic() + 30
        while _tcp_state(sock) == TCP_ESTABLISHED:
            assert time.monotonic() < deadline, "the server kept a connection that reads nothing for 30 s"
            time.sleep(0.2)
        assert _tcp_state(sock) == TCP_CLOSE  # reset: the server dropped what it could not send
    assert httpx.get(f"{target.server.base}/healthz").status_code == 200


def test_a_slow_reader_is_never_cut_off(target: Target) -> None:
    # 5 MB read 16 KB at a time, 50 ms apart (at most 320 KB/s): for seconds at a stretch the server
    # waits to write, far longer than the write timeout, while each read moves its answers on.
    count = 60
    with _pipelining_client(target, 32768) as sock:
        sock.sendall(OPENAPI_REQUEST)
        expected = len(_one_response(sock)) * count
        sock.sendall(OPENAPI_REQUEST * count)
        received = 0
        try:
            while received < expected and (data := sock.recv(16384)):
                received += len(data)
                time.sleep(0.05)
        except ConnectionResetError:
            pass
        assert received == expected, f"cut off after {received} of {expected} bytes"


def test_garbage_that_is_not_http_is_refused_by_the_server(target: Target) -> None:
    # uvicorn's own answer, before any route runs: a plain-text 400, and the connection closed.
    with _connect(target) as sock:
        tls_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200) + b"\r\n\r\n"
        sock.sendall(tls_hello)
        response = _until_closed(sock)
    assert response.startswith(b"HTTP/1.1 400 ")
