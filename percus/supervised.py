"""The child processes `percus serve` keeps running: its gateway workers (percus/gateway_worker.py)
and its writer (percus/writer_process.py).

Each is a fresh interpreter (`python -m <module>`), never a fork: it imports only what it needs. It
gets its arguments pickled on stdin, and runs in a process group of its own: a terminal's Ctrl-C is
`percus serve`'s to act on, and it decides in which order its children stop. A child that dies is
started again. A child is told to stop by the end of a pipe whose other end only `percus serve`
holds, so it hears it even when told while starting, and also when `percus serve` is killed (a lock
shared with a process that may be killed could stay held).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger("percus.serve")

RESTART_DELAY = 1.0  # seconds before a child that died is started again


class Supervised:
    """Keeps one process of `module` running, from `start()` until `stop()`. Its command line is the
    pipe it hears its stop from, then `pass_fds`, which it inherits."""

    def __init__(self, module: str, name: str, arguments: object, *, pass_fds: Sequence[int] = ()) -> None:
        self._module, self.name = module, name
        self._arguments = pickle.dumps(arguments)
        self._stop_heard, self._stop_said = os.pipe()
        self._pass_fds = (self._stop_heard, *pass_fds)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._supervise, name=f"percus-{name}-supervisor")

    @property
    def pid(self) -> int | None:
        with self._lock:
            return None if self._process is None else self._process.pid

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Tell the process to stop, and wait until it has exited."""
        self.tell_stop()
        self.wait()

    def tell_stop(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
            os.close(self._stop_said)

    def wait(self) -> None:
        """Once told to stop: wait until the process has exited (it is not started again)."""
        if self._thread.ident is not None:  # started
            self._thread.join()
        with self._lock, contextlib.suppress(OSError):  # closed by an earlier wait()
            os.close(self._stop_heard)

    def _supervise(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                process = self._process = subprocess.Popen(
                    [sys.executable, "-m", self._module, *map(str, self._pass_fds)],
                    stdin=subprocess.PIPE, pass_fds=self._pass_fds, process_group=0)
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError), process.stdin:  # it may die first: restarted below
                process.stdin.write(self._arguments)
            code = process.wait()
            if self._stopping.is_set():
                if code != 0:
                    log.error("the %s process exited with %s while stopping", self.name, code)
                return
            log.error("the %s process (pid %s) exited with %s; starting another in %.0f s",
                      self.name, process.pid, code, RESTART_DELAY)
            self._stopping.wait(RESTART_DELAY)


def arguments() -> Any:
    """In the child: what `percus serve` passed it."""
    return pickle.loads(sys.stdin.buffer.read())


def on_stop(stop_heard: int, stop: Callable[[], None]) -> None:
    """In the child: call `stop` (in a thread of its own) once told to stop, or once `percus serve`
    is gone."""
    def hear() -> None:
        os.read(stop_heard, 1)  # returns at the pipe's end
        stop()

    threading.Thread(target=hear, name="percus-stop", daemon=True).start()
