"""Progress of long commands on stderr, drawn from the pipeline's callbacks (pipeline/progress.py):
on a terminal a bar redrawn in place; elsewhere (a log, CI, a pipe) plain lines, one every
PLAIN_SECONDS or every 10 % of the work, whichever comes first, and one at the end. `rich` is only a
test dependency here, and a bar is a dozen lines."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

PLAIN_SECONDS = 5.0
REDRAW_SECONDS = 0.1  # a terminal is redrawn at most this often (and at the end)
BAR_WIDTH = 24


class Reporter:
    """A progress callback `(done, total or None, so far)` for `label`, counted in `unit`; `detail`
    says what `so far` holds. Use it as a context manager, so a bar left short of its total ends its line."""

    def __init__(self, label: str, unit: str, *, detail: Callable[[Any], str] | None = None,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.unit, self.detail = label, unit, detail
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty()
        self.clock = clock
        self.shown_at: float | None = None
        self.shown_tenth = -1
        self.open = False  # a bar drawn without its line end

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open = False

    def __call__(self, done: int, total: int | None, so_far: Any = None) -> None:
        now = self.clock()
        finished = total is not None and done >= total
        since = None if self.shown_at is None else now - self.shown_at
        if self.terminal:
            if finished or since is None or since >= REDRAW_SECONDS:
                end = "\n" if finished else ""
                self.stream.write(f"\r\x1b[K{self._bar(done, total)}{self._text(done, total, so_far)}{end}")
                self.stream.flush()
                self.shown_at, self.open = now, not finished
            return
        tenth = done * 10 // total if total else -1
        if finished or since is None or since >= PLAIN_SECONDS or tenth > self.shown_tenth:
            print(self._text(done, total, so_far), file=self.stream, flush=True)
            self.shown_at, self.shown_tenth = now, tenth

    def note(self, text: str) -> None:
        """A line of its own (a bad input line…) on the same stream, clearing a bar drawn there."""
        if self.open:
            self.stream.write("\r\x1b[K")
            self.open, self.shown_at = False, None  # drawn again at the next step
        print(text, file=self.stream, flush=True)

    def _bar(self, done: int, total: int | None) -> str:
        if not total:
            return ""
        filled = min(BAR_WIDTH, done * BAR_WIDTH // total)
        return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "

    def _text(self, done: int, total: int | None, so_far: Any) -> str:
        counted = f"{done:,}/{total:,} {self.unit}" if total is not None else f"{done:,} {self.unit}"
        share = f" ({done * 100 // total} %)" if total else ""
        detail = f"; {self.detail(so_far)}" if self.detail is not None and so_far is not None else ""
        return f"{self.label}: {counted}{share}{detail}"
