"""Where GET /metrics' counts live (gateway/instruments.py defines what each is): 8-byte cells in a
slot, one slot per process, and a scrape sums every slot.

A slot is written by its own process alone, from one thread per cell, so it takes no lock: a value is
one aligned 8-byte store, which a reader in another process sees whole. `percus serve`'s processes
each keep theirs in a file of the run directory they share (mapped, so an update is a store to
memory); a process restarted on the same slot continues from its values, so counters never go back.
An app of a test process keeps its slot in memory.

After the cells a slot holds its labels, appended as first seen (the error codes of rejections, a
bounded set): each a name and its count. A name is written before the number of labels that takes it
in, so a reader sees it whole; one not visible yet reads as empty and waits for the next scrape.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

_SUFFIX = ".metrics"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAGIC = int.from_bytes(b"percus-m", "little")
_HEADER = 16  # bytes: the magic number and the layout's fingerprint
LABELS = 64  # labels a slot holds at most (the ingest has about 30 error codes)
LABEL_BYTES = 48  # a label's name at most, in UTF-8
_ENTRY = 1 + LABEL_BYTES // 8  # cells of a label: its count, then its name


class SlotInUse(Exception):
    """Another live process holds the slot."""


@dataclass(frozen=True)
class Layout:
    """`cells` numbered cells; the fingerprint tells slots of another layout (another version) apart."""

    cells: int
    description: str  # what the cells hold, for the fingerprint

    @property
    def fingerprint(self) -> int:
        return zlib.crc32(f"{self.cells} {LABELS} {LABEL_BYTES} {self.description}".encode())

    @property
    def size(self) -> int:
        return _HEADER + 8 * (self.cells + 1 + LABELS * _ENTRY)  # the cells, the label count, the labels


@dataclass(frozen=True)
class Snapshot:
    """A slot's values as read once: its cells (as integers and as floats) and its labels' counts."""

    ints: list[int]
    floats: list[float]
    labels: dict[str, int]


class Slot:
    """One process's cells: `ints[i]` and `floats[i]` are cell i (each cell is one or the other)."""

    def __init__(self, buffer: bytearray | mmap.mmap, layout: Layout) -> None:
        self._raw = memoryview(buffer)
        self._layout = layout
        body = self._raw[_HEADER:]
        self.ints = body.cast("q")
        self.floats = body.cast("d")
        self.labels: dict[str, int] = {}  # name: the cell of its count
        if self._raw.readonly:
            return
        head = self._raw[:_HEADER].cast("q")
        if head[0] == 0:  # new
            head[1] = layout.fingerprint
            head[0] = _MAGIC
        elif not self.made():
            raise ValueError("a metrics slot of another layout (another version): empty the run dir")
        self.labels = dict(self._label_cells(self.ints.tolist()))

    @classmethod
    def in_memory(cls, layout: Layout) -> Slot:
        return cls(bytearray(layout.size), layout)

    @classmethod
    def open(cls, directory: Path, name: str, layout: Layout) -> Slot:
        """Slot `name` of `directory`, made if new; SlotInUse while another process has it open."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"a slot is named with 1-64 letters, digits, '_' or '-', not {name!r}")
        fd = os.open(directory / f"{name}{_SUFFIX}", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the kernel lets go when the holder dies
            except BlockingIOError:
                raise SlotInUse(f"metrics slot {name!r} of {directory} is held by another process") from None
            size = os.fstat(fd).st_size
            if size not in (0, layout.size):
                raise ValueError(f"metrics slot {name!r} has another layout (another version): empty the "
                                 "run dir")
            if size == 0:
                os.ftruncate(fd, layout.size)  # zeros: readers skip it until its header is written
            # The map keeps a duplicate of the descriptor, and with it the lock, as long as it lives.
            return cls(mmap.mmap(fd, layout.size), layout)
        finally:
            os.close(fd)

    def made(self) -> bool:
        """Whether its header is written, and of this layout."""
        return self._raw[:_HEADER].cast("q").tolist() == [_MAGIC, self._layout.fingerprint]

    def label(self, name: str) -> int:
        """The cell of `name`'s count, taken on first use."""
        cell = self.labels.get(name)
        if cell is not None:
            return cell
        encoded = name.encode()
        count = self.ints[self._layout.cells]
        if len(encoded) > LABEL_BYTES or count >= LABELS:
            raise ValueError(f"no room for label {name!r}: at most {LABELS} of {LABEL_BYTES} bytes")
        cell = self._layout.cells + 1 + count * _ENTRY
        start = _HEADER + 8 * (cell + 1)
        self._raw[start:start + LABEL_BYTES] = encoded.ljust(LABEL_BYTES, b"\0")
        self.ints[self._layout.cells] = count + 1  # after the name: a reader sees it whole
        self.labels[name] = cell
        return cell

    def snapshot(self) -> Snapshot:
        """Every value, each read whole (one 8-byte load per cell)."""
        cells = self._layout.cells
        ints = self.ints.tolist()
        labels = {name: ints[cell] for name, cell in self._label_cells(ints)}
        floats = cast(list[float], self.floats.tolist())  # typeshed has tolist() give ints
        return Snapshot(ints[:cells], floats[:cells], labels)

    def _label_cells(self, ints: list[int]) -> Iterator[tuple[str, int]]:
        for index in range(min(ints[self._layout.cells], LABELS)):
            cell = self._layout.cells + 1 + index * _ENTRY
            start = _HEADER + 8 * (cell + 1)
            name = self._raw[start:start + LABEL_BYTES].tobytes().rstrip(b"\0").decode(errors="replace")
            if name:
                yield name, cell


def read_all(directory: Path, layout: Layout) -> Iterator[Snapshot]:
    """The snapshot of every slot in `directory`, live or left by a process that ended."""
    for path in sorted(directory.glob(f"*{_SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # the run dir was emptied meanwhile
            continue
        try:
            if os.fstat(fd).st_size != layout.size:  # being made (or of another version)
                continue
            slot = Slot(mmap.mmap(fd, layout.size, access=mmap.ACCESS_READ), layout)
        finally:
            os.close(fd)
        if slot.made():  # else being made
            yield slot.snapshot()
