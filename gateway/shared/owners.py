"""Which of the processes sharing a file are alive: each holds a lock on a file of its own for as
long as it lives (the kernel releases it at its death, even by `kill -9`), named by a number that
is never given twice in a run directory."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class Owners:
    def __init__(self, directory: Path, number: int) -> None:
        """Registers this process as owner `number` (fresh for each process that attaches)."""
        self.number = number
        self._directory = directory
        self._own = os.open(directory / str(number), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._own, fcntl.LOCK_EX)
        self._dead: set[int] = set()
        self._others: dict[int, int] = {}  # owner number -> an open file of theirs

    def alive(self, number: int) -> bool:
        """Whether owner `number` is this process or another one still alive. One system call, and
        none for an owner already seen dead."""
        if number == self.number:
            return True
        if number in self._dead:
            return False
        fd = self._others.get(number)
        if fd is None:
            try:
                fd = self._others[number] = os.open(self._directory / str(number), os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                self._dead.add(number)
                return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        del self._others[number]
        os.close(fd)  # releases the lock just taken
        self._dead.add(number)
        return False

    def close(self) -> None:
        for fd in self._others.values():
            os.close(fd)
        os.close(self._own)
