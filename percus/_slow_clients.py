"""uvicorn's httptools protocol with the two limits it lacks: time to read a request, size of its head.

uvicorn closes idle keep-alive connections, but a connection that sends nothing, or sends its
headers or body a byte at a time, is held for ever, and the headers of a request that never ends
them are buffered without bound. Here each request must arrive whole (headers and body) within
`read_timeout` seconds of its first byte (of the connection's opening, for the first request), or
the connection is closed; and a request head over `max_head_bytes` is answered 431 (the API's JSON
error) and closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.errors import ApiError

READ_TIMEOUT = 30.0  # seconds: a 512 KB body needs ~140 kbit/s to make it
MAX_HEAD_BYTES = 64 * 1024  # request line and headers; browsers send a few KB


class SlowClientLimits(HttpToolsProtocol):
    read_timeout = READ_TIMEOUT
    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None
        self._in_head = True  # bytes arriving now belong to a request line or headers
        self._head_bytes = 0
        self._parsed_a_boundary = False  # the chunk being parsed ended a head or a message

    # asyncio.Protocol takes a BaseTransport; uvicorn's protocol narrows it (with the same ignore).
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        in_head, self._parsed_a_boundary = self._in_head, False
        super().data_received(data)
        # Counted only when the whole chunk was head: exact for a head that never ends, which is
        # what the limit is for (a chunk that also ends a message starts the next count at zero).
        if in_head and self._in_head and not self._parsed_a_boundary:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes and not self.transport.is_closing():
                self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes, self._parsed_a_boundary = False, 0, True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head, self._head_bytes, self._parsed_a_boundary = True, 0, True
        super().on_message_complete()

    def _arm(self) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        # Closed without an answer: the client is not reading one, and the app, if it was waiting
        # for the body, is told the client went away.
        self._read_timer = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection whose request did not arrive in %ss", self.read_timeout)
            self.transport.close()

    def _refuse_head(self) -> None:
        # Below ASGI: no app has the request yet, so the answer is written to the socket here.
        error = ApiError(431, "request_head_too_large",
                         f"the request line and headers exceed {self.max_head_bytes} bytes")
        message = error.body()
        self.transport.write(b"".join([
            STATUS_LINE[error.status], b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(message), b"connection: close\r\n\r\n", message]))
        self.transport.close()


def protocol(read_timeout: float, max_head_bytes: int = MAX_HEAD_BYTES) -> type[SlowClientLimits]:
    """The protocol class for uvicorn.Config(http=...), with these limits."""
    return type("SlowClientLimits", (SlowClientLimits,),
                {"read_timeout": read_timeout, "max_head_bytes": max_head_bytes})
