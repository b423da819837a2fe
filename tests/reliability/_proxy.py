"""A TCP proxy on 127.0.0.1 that can be stopped and started again on the same port.

moto server keeps its state in memory, so "AWS goes away" is played by this proxy between the
clients under test and moto: stopped, it refuses new connections and cuts the open ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from tests.conftest import free_port


class Proxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.connections = 0  # accepted while running
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        # asyncio holds the handlers' tasks weakly: one whose transports are all paused or aborted is
        # collectable mid-flight, and its open transport then warns from the garbage collector.
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    def stop(self) -> None:
        """Refuse new connections and reset the open ones."""
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        assert self._server is None, "already running"
        # SO_REUSEADDR (asyncio's default here): the same port again, at once.
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()  # RST: the client sees its connection reset
        self._open.clear()

    async def _close(self) -> None:
        """Stop, and end every connection still being handled: a transport left open when the loop
        stops is closed by the garbage collector, whose ResourceWarning fails whichever test runs then
        (seen once in make test)."""
        await self._stop()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        pair = {client_writer}
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            pair.add(upstream_writer)
            if self._server is None:  # stopped while this connection was being made
                return
            self._open |= pair
            await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))
        except OSError:
            return
        finally:
            self._handlers.discard(handler)
            self._open -= pair
            for writer in pair:
                writer.transport.abort()  # a no-op on a transport _pipe closed already


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.close()


@contextlib.contextmanager
def proxy_to(url: str) -> Iterator[Proxy]:
    """A running proxy to http://127.0.0.1:PORT."""
    host, _, port = url.removeprefix("http://").partition(":")
    proxy = Proxy(host, int(port))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
