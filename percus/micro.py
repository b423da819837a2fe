"""`percus micro`: Percus Micro (gateway/micro) served by uvicorn, in the foreground or, for the pytest
plugin (percus/testing.py), from a thread on a free port."""

from __future__ import annotations

import contextlib
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import uvicorn

from gateway.micro import Micro, create_micro


@contextlib.contextmanager
def _micro(data_dir: Path | None, organization: str, project: str) -> Iterator[Micro]:
    """A Micro over `data_dir`, else over a temporary directory removed when it ends."""
    with contextlib.ExitStack() as stack:
        directory = data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="percus-micro-")))
        yield create_micro(directory, organization, project)


def _config(micro: Micro, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(micro.app, host=host, port=port, access_log=False, log_level="warning")


def serve(*, host: str, port: int, organization: str, project: str, data_dir: Path | None) -> None:
    """Prints the banner once it listens: a test that read the token may send at once. Ctrl-C or SIGTERM
    stops it and removes its temporary directory."""
    # uvicorn raises the stop signal again once it stopped: as KeyboardInterrupt, so the directory goes.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt), _micro(data_dir, organization, project) as micro:
        base = f"http://{host}:{port}"
        banner = "\n".join([
            f"Percus Micro on {base}  (events in memory; organization {organization!r}, project {project!r}; "
            f"settings: {micro.data_dir})",
            f"  share token   {micro.token}",
            f"  ingest        POST {base}/analytics/v1/events",
            f"  inspect       {base}/micro/all  /micro/good  /micro/bad  /micro/wait  POST /micro/reset",
            f"  SDK, demo     {base}/sdk/percus-embed-sdk.js  {base}/demo",
        ])
        _Server(_config(micro, host, port), lambda: print(banner, flush=True)).run()


class _Server(uvicorn.Server):
    """Calls `listening` once it listens (after the app's lifespan startup)."""

    def __init__(self, config: uvicorn.Config, listening: Callable[[], object]) -> None:
        super().__init__(config)
        self._listening = listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:  # not when the port was taken
            self._listening()


class Running:
    """A Micro serving from a daemon thread on 127.0.0.1; `stop()` ends it."""

    def __init__(self, organization: str = "micro", project: str = "micro") -> None:
        self._stack = contextlib.ExitStack()
        micro = self._stack.enter_context(_micro(None, organization, project))
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))  # a free port, held from now on
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        self.token = micro.token
        listening = threading.Event()
        self._server = _Server(_config(micro, "127.0.0.1", 0), listening.set)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [listener]},
                                        name="percus-micro", daemon=True)
        self._thread.start()
        if not listening.wait(30):
            self.stop()
            raise RuntimeError("Percus Micro did not start within 30 s")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join()
        self._stack.close()
