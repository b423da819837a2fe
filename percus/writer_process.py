"""The raw writer in a process of its own, started and supervised by `percus serve`
(percus/supervised.py): the gateway's interpreter lock is then the gateway's alone. The gateway's
workers send to the local queue, this process receives from it (pipeline/queue/local.py: one side
each).

Told to stop once the gateway has answered its last request, it writes what is queued before it
exits; SIGTERM stops it the same way. Each batch it lands is told to `percus serve` through a pipe,
and its pipeline loop compacts it.
"""

from __future__ import annotations

import contextlib
import logging
import logging.config
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from percus import supervised
from pipeline.backends import open_queue, open_store
from pipeline.config import Settings
from pipeline.queue.local import QueueLocked
from pipeline.raw.writer import Writer

log = logging.getLogger("percus.writer")


class WriterProcess:
    """Starts the writer process and keeps one running until `stop()`. `on_written` is called (in a
    thread of this process) after each batch the writer lands."""

    def __init__(self, settings: Settings, *, max_wait: float, logging_config: dict[str, Any],
                 on_written: Callable[[], None] | None = None) -> None:
        self._on_written = on_written
        self._told, self._tell = os.pipe()  # the writer's word that it landed a batch
        self._child = supervised.Supervised("percus.writer_process", "writer",
                                            (settings, max_wait, logging_config), pass_fds=(self._tell,))
        self._relay_thread = threading.Thread(target=self._relay, name="percus-writer-relay", daemon=True)
        self._stopped = False

    @property
    def pid(self) -> int | None:
        return self._child.pid

    def start(self) -> None:
        self._child.start()
        self._relay_thread.start()

    def stop(self) -> None:
        """Stop the writer process and wait until it has written what is queued and exited."""
        if self._stopped:
            return
        self._stopped = True
        self._child.stop()
        os.close(self._tell)  # the relay thread sees the end of the pipe: no writer holds it any more

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
    settings, max_wait, logging_config = supervised.arguments()
    logging.config.dictConfig(logging_config)
    supervised.on_stop(stop_heard, stop.set)
    os.set_blocking(tell, False)

    def written() -> None:
        # Not told when percus serve is gone, or a backlog of words it has not read yet says it.
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(tell, b".")

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
