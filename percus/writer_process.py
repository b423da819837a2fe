"""The raw writer in a process of its own, started and supervised by `percus serve`: the gateway's
interpreter lock is then the gateway's alone. The gateway sends to the local queue, this process
receives from it (pipeline/queue/local.py: one side each).

The writer process is restarted when it dies, and told to stop once the gateway has answered its
last request: it then writes what is queued before it exits. It is told by the end of a pipe whose
other end only `percus serve` holds, so it hears it even when told while starting, and also when
`percus serve` is killed (a lock shared with a process that may be killed could stay held). SIGTERM
stops it the same way. It runs in a process group of its own, and ignores SIGINT: the gateway acts
on a terminal's Ctrl-C and decides when the writer stops. Each batch it lands is told to `percus
serve` through another pipe, and its pipeline loop compacts it.

It is a fresh interpreter (`python -m percus.writer_process`), never a fork of the gateway: it
imports only what writing needs.
"""

from __future__ import annotations

import contextlib
import logging
import logging.config
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from pipeline.backends import open_queue, open_store
from pipeline.config import Settings
from pipeline.queue.local import QueueLocked
from pipeline.raw.writer import Writer

log = logging.getLogger("percus.writer")

RESTART_DELAY = 1.0  # seconds before a writer process that died is started again


class WriterProcess:
    """Starts the writer process and keeps one running until `stop()`. `on_written` is called (in a
    thread of this process) after each batch the writer lands."""

    def __init__(self, settings: Settings, *, max_wait: float, logging_config: dict[str, Any],
                 on_written: Callable[[], None] | None = None) -> None:
        self._arguments = pickle.dumps((settings, max_wait, logging_config))
        self._on_written = on_written
        self._told, self._tell = os.pipe()  # the writer's word that it landed a batch
        self._stop_heard, self._stop_said = os.pipe()  # closed to stop every writer process
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
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
        """Stop the writer process and wait until it has written what is queued and exited."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
            os.close(self._stop_said)
        self._threads[0].join()
        os.close(self._tell)  # the relay thread sees the end of the pipe: no writer holds it any more
        os.close(self._stop_heard)

    def _supervise(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                process = self._process = subprocess.Popen(
                    [sys.executable, "-m", "percus.writer_process", str(self._stop_heard), str(self._tell)],
                    # A process group of its own: a terminal's Ctrl-C is the gateway's to act on.
                    stdin=subprocess.PIPE, pass_fds=(self._stop_heard, self._tell), process_group=0)
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError), process.stdin:  # it may die first: restarted below
                process.stdin.write(self._arguments)
            code = process.wait()
            if self._stopping.is_set():
                if code != 0:
                    log.error("the writer process exited with %s while stopping", code)
                return
            log.error("the writer process (pid %s) exited with %s; starting another in %.0f s",
                      process.pid, code, RESTART_DELAY)
            self._stopping.wait(RESTART_DELAY)

    def _relay(self) -> None:
        while os.read(self._told, 4096):
            if self._on_written is not None:
                self._on_written()
        os.close(self._told)


def _main(stop_heard: int, tell: int) -> None:
    """The writer process: drain the queue until told to stop (or SIGTERM), then write what is queued."""
    stop = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    settings, max_wait, logging_config = pickle.loads(sys.stdin.buffer.read())
    logging.config.dictConfig(logging_config)

    def hear_stop() -> None:
        os.read(stop_heard, 1)  # returns at the pipe's end: stopping, or percus serve is gone
        stop.set()

    os.set_blocking(tell, False)

    def written() -> None:
        # Not told when percus serve is gone, or a backlog of words it has not read yet says it.
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(tell, b".")

    threading.Thread(target=hear_stop, name="percus-writer-stop", daemon=True).start()
    try:
        queue = open_queue(settings, sends=False)
    except QueueLocked as exc:  # the last writer, or `percus dsar delete`, still drains it: tried again
        log.error("%s", exc)
        sys.exit(1)
    try:
        Writer(queue, open_store(settings), max_wait=max_wait, on_written=written).run(stop)
    finally:
        queue.close()


if __name__ == "__main__":
    _main(int(sys.argv[1]), int(sys.argv[2]))
