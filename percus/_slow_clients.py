"""uvicorn's httptools protocol with the limits it lacks: time to read a request, time to write a
response, size of a request head.

uvicorn closes idle keep-alive connections, but a connection that sends nothing, or sends its
headers or body a byte at a time, is held for ever, and so is one that never reads its answers, with
their unsent bytes; the headers of a request that never ends them are buffered without bound. Here
each request must arrive whole (headers and body) within `read_timeout` seconds of its first byte
(of the connection's opening, for the first request), or the connection is closed; a connection
whose unsent answer makes no progress for `write_timeout` seconds is reset; and a request head over
`max_head_bytes` is answered 431 (the API's JSON error) and closed.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import fcntl
import socket
import struct
import termios
from typing import Any

from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from gateway.errors import ApiError

READ_TIMEOUT = 30.0  # seconds: a 512 KB body needs ~140 kbit/s to make it
WRITE_TIMEOUT = 30.0  # seconds in which not one byte of a waiting answer reaches the client
WRITE_CHECK_SECONDS = 1.0  # how often a connection waiting to write is looked at
MAX_HEAD_BYTES = 64 * 1024  # request line and headers; browsers send a few KB
BLANK_LINE = b"\r\n\r\n"  # ends a head, and a chunked body (llhttp accepts no bare LF)


class SlowClientLimits(HttpToolsProtocol):
    read_timeout = READ_TIMEOUT
    write_timeout = WRITE_TIMEOUT
    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._unsent_at_last_progress = 0
        self._last_write_progress = 0.0
        self._answering: RequestResponseCycle | None = None
        self._in_head = True  # the next byte belongs to a request line or headers
        self._head_bytes = 0
        self._body_left: int | None = 0  # bytes of a Content-Length body still to come; None if chunked
        self._last_bytes = b""  # the stream's last three bytes, for a blank line split between reads
        self._head_refused = False  # nothing more is parsed on this connection

    # asyncio.Protocol takes a BaseTransport; uvicorn's protocol narrows it (with the same ignore).
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Writing pauses on the first byte the kernel will not take, so every stalled answer is
        # watched; the kernel's send buffer (4 MB on loopback) still absorbs bursts.
        transport.set_write_buffer_limits(high=0)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._stop_write_watch()
        # uvicorn tells only the newest request's cycle; with pipelining an older one may be the one
        # answering, and would write to the closed transport once writing resumes.
        if self._answering is not None and not self._answering.response_complete:
            self._answering.disconnected = True
            self._answering.message_event.set()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._unsent_at_last_progress, self._last_write_progress = self._unsent(), self.loop.time()
        self._write_timer = self.loop.call_later(WRITE_CHECK_SECONDS, self._check_writes)

    def resume_writing(self) -> None:
        self._stop_write_watch()
        super().resume_writing()

    def data_received(self, data: bytes) -> None:
        # Fed to the parser in pieces that end where a head or a message can end (after a blank
        # line, or a Content-Length body), so a head's bytes are counted before the parser sees them,
        # however the head is split between reads and whatever precedes it in the same read.
        if self._head_refused:
            return
        blank_line_ends = _blank_line_ends(self._last_bytes, data)
        self._last_bytes = (self._last_bytes + data[-3:])[-3:]
        start = 0
        # The parser stops after an error (answered 400) and after a switch to WebSocket.
        while start < len(data) and not self.transport.is_closing() and self.transport.get_protocol() is self:
            if self._in_head or self._body_left is None:
                found = bisect.bisect_right(blank_line_ends, start)
                end = blank_line_ends[found] if found < len(blank_line_ends) else len(data)
            else:
                end = min(len(data), start + self._body_left)
                self._body_left -= end - start
            if self._in_head:
                self._head_bytes += end - start
                if self._head_bytes > self.max_head_bytes:
                    self._head_refused = True
                    # Answers go out in order: a request pipelined before this one is answered first.
                    if self.cycle is None or self.cycle.response_complete:
                        self._refuse_head()
                    return
            super().data_received(data[start:end])
            start = end

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        # llhttp has refused a Content-Length given twice, or beside a Transfer-Encoding.
        headers = dict(self.headers)
        self._in_head, self._head_bytes = False, 0
        self._body_left = None if b"transfer-encoding" in headers else int(headers.get(b"content-length", 0))
        super().on_headers_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        self._answering = cycle  # uvicorn starts each pipelined request's cycle here, in order
        super()._start_asgi_task(cycle, app)

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._head_refused and self.cycle.response_complete and not self.transport.is_closing():
            self._refuse_head()

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

    def _check_writes(self) -> None:
        # Nothing is written while writing is paused: fewer unsent bytes means the client took some.
        unsent, now = self._unsent(), self.loop.time()
        if unsent < self._unsent_at_last_progress:
            self._unsent_at_last_progress, self._last_write_progress = unsent, now
        elif now - self._last_write_progress >= self.write_timeout:
            self._write_timer = None
            self.logger.info("resetting a connection whose answer made no progress in %ss",
                             self.write_timeout)
            # A reset, not a close: the kernel drops what it still holds for this client too.
            self.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
            return
        self._write_timer = self.loop.call_later(WRITE_CHECK_SECONDS, self._check_writes)

    def _unsent(self) -> int:
        """Bytes of answers the client has not acknowledged: the transport's buffer, and on Linux the
        kernel's send queue (SIOCOUTQ). The queue shrinks with every acknowledgement; the buffer only
        moves when a third of the queue frees (1.3 MB steps on loopback), too coarse to see a slow
        reader's progress."""
        unsent = self.transport.get_write_buffer_size()
        with contextlib.suppress(OSError):  # no SIOCOUTQ on a socket off Linux
            queued = fcntl.ioctl(self.transport.get_extra_info("socket").fileno(), termios.TIOCOUTQ, bytes(4))
            unsent += struct.unpack("i", queued)[0]
        return unsent

    def _stop_write_watch(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _refuse_head(self) -> None:
        # Below ASGI: no app has the request yet, so the answer is written to the socket here.
        error = ApiError(431, "request_head_too_large",
                         f"the request line and headers exceed {self.max_head_bytes} bytes")
        message = error.body()
        self.transport.write(b"".join([
            STATUS_LINE[error.status], b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(message), b"connection: close\r\n\r\n", message]))
        self.transport.close()


def protocol(read_timeout: float, write_timeout: float,
             max_head_bytes: int = MAX_HEAD_BYTES) -> type[SlowClientLimits]:
    """The protocol class for uvicorn.Config(http=...), with these limits."""
    return type("SlowClientLimits", (SlowClientLimits,), {
        "read_timeout": read_timeout, "write_timeout": write_timeout, "max_head_bytes": max_head_bytes})


def _blank_line_ends(before: bytes, data: bytes) -> list[int]:
    """Offsets in `data` just past each blank line, one begun in `before` (the bytes before it) too."""
    joined, ends = before + data, []
    found = joined.find(BLANK_LINE)
    while found != -1:
        ends.append(found + len(BLANK_LINE) - len(before))
        found = joined.find(BLANK_LINE, found + 1)
    return ends
