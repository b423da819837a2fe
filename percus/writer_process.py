"""The raw writer in a process of its own, started and supervised by `percus serve`: the gateway's
interpreter lock is then the gateway's alone. The gateway sends to the local queue, this process
receives from it (pipeline/queue/local.py: one side each).

The writer process is restarted when it dies, and stopped by SIGTERM once the gateway has answered
its last request: it then writes what is queued before it exits. It ignores SIGINT (Ctrl-C reaches
the whole process group: the gateway decides when the writer stops), and stops by itself if the
process that started it is gone. Each batch it lands is told to `percus serve`, whose pipeline loop
compacts it.
"""

from __future__ import annotations

import contextlib
import logging
import logging.config
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from pipeline.backends import open_queue, open_store
from pipeline.config import Settings
from pipeline.queue.local import QueueLocked
from pipeline.raw.writer import Writer

log = logging.getLogger("percus.writer")

RESTART_DELAY = 1.0  # seconds before a writer process that died is started again
STOP_TIMEOUT = 90.0  # seconds a stopping writer may take to write what is queued (its flush: 30 s)
_PARENT_POLL = 0.5  # seconds between the writer's looks at whether its parent is still there


class WriterProcess:
    """Starts the writer process and keeps one running until `stop()`. `on_written` is called (in a
    thread of this process) after each batch the writer lands."""

    def __init__(self, settings: Settings, *, max_wait: float, logging_config: dict[str, Any],
                 on_written: Callable[[], None] | None = None) -> None:
        self._settings = settings
        self._max_wait = max_wait
        self._logging_config = logging_config
        self._on_written = on_written
        self._context = multiprocessing.get_context("spawn")  # never fork a process running threads
        self._told, self._tell = self._context.Pipe(duplex=False)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._threads = [threading.Thread(target=self._supervise, name="percus-writer-supervisor"),
                         threading.Thread(target=self._relay, name="percus-writer-relay", daemon=True)]

    @property
    def pid(self) -> int | None:
        with self._lock:
            return None if self._process is None else self._process.pid

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """SIGTERM the writer process and wait until it has written what is queued and exited."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.pid is not None and process.exitcode is None:
            os.kill(process.pid, signal.SIGTERM)
        self._threads[0].join()
        self._tell.close()  # the relay thread sees the end of the pipe once no writer holds it

    def _supervise(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                process = self._process = self._context.Process(
                    target=_run, name="percus-writer",
                    args=(self._settings, self._max_wait, self._logging_config, self._tell))
                process.start()
            process.join()
            if self._stopping.is_set():
                if process.exitcode != 0:
                    log.error("the writer process exited with %s while stopping", process.exitcode)
                return
            log.error("the writer process (pid %s) exited with %s; starting another in %.0f s",
                      process.pid, process.exitcode, RESTART_DELAY)
            self._stopping.wait(RESTART_DELAY)

    def _relay(self) -> None:
        while True:
            try:
                self._told.recv_bytes()
            except (EOFError, OSError):
                return
            if self._on_written is not None:
                self._on_written()


def _run(settings: Settings, max_wait: float, logging_config: dict[str, Any], tell: Connection) -> None:
    """The writer process's main: drain the queue until SIGTERM (or its parent is gone), then flush."""
    logging.config.dictConfig(logging_config)
    stop = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    parent = os.getppid()

    def watch_parent() -> None:
        while not stop.wait(_PARENT_POLL):
            if os.getppid() != parent:  # percus serve was killed: write what is queued and end
                log.warning("percus serve (pid %d) is gone: the writer stops", parent)
                stop.set()

    def written() -> None:
        with contextlib.suppress(OSError):  # percus serve is gone: nobody compacts here any more
            tell.send_bytes(b"")

    threading.Thread(target=watch_parent, name="percus-writer-parent", daemon=True).start()
    try:
        queue = open_queue(settings, sends=False)
    except QueueLocked as exc:  # the last writer, or `percus dsar delete`, still drains it: tried again
        log.error("%s", exc)
        sys.exit(1)
    try:
        Writer(queue, open_store(settings), max_wait=max_wait, on_written=written).run(stop)
    finally:
        queue.close()
