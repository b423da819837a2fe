"""RecentIds for every worker at once: the event ids enqueued recently, in one file of the run
directory, so a client's retry is answered as a duplicate whichever worker its connection reaches."""

from __future__ import annotations

import hashlib
import secrets
import struct
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from uuid import UUID

from gateway.shared.mapped_file import MappedFile

FILE_NAME = "recent_ids"
_MAGIC = b"PRCSRID1"
_FIXED = struct.Struct("<8sIQd32s")  # magic, slot bits, generation size, generation seconds, secret
# The current table, its ids, its used slots (tombstones too), the previous table's ids, when it started
_STATE = struct.Struct("<QQQQd")
_STATE_AT = 64
_TABLES_AT = 4096
_SLOT = 16
_M128 = (1 << 128) - 1
_TOMBSTONE = 1  # a forgotten id's slot; 0 is an empty one. No key of these values is ever stored.
_EMPTY = bytes(_SLOT)
_TOMBSTONE_SLOT = _TOMBSTONE.to_bytes(_SLOT, "little")
_NOWHERE = -(1 << 62)  # _probe() found neither the key nor a free slot


class SharedRecentIds:
    """RecentIds' rules (gateway/recent_ids.py) over two open-addressing hash tables in a mapped file,
    one per generation: at most `capacity` ids, each remembered for between `ttl_seconds / 2` and
    `ttl_seconds`. Each table has the next power of two at or above `capacity` slots of 16 bytes,
    so at most half full: 1,000,000 ids take 32 MiB of the file, shared by all the workers.

    A slot holds the id's 128-bit integer XOR a 128-bit hash of its organization keyed with a secret
    made by create(): for one organization the map is one-to-one, so a stored key says exactly which
    id was enqueued (a false duplicate would lose an event); another organization's id could only
    match by a 128-bit hash collision, which no client can aim at without the secret. The slot is
    found by a keyed multiplicative hash of the key, so ids chosen to collide do not pile up either.
    Forgotten ids leave tombstones; a table whose slots are three quarters used also rotates.

    Every operation takes the file's lock once (remember() and forget() once for a whole batch);
    `time.monotonic()` is system-wide on Linux, so the generations' ages read alike in every process.
    """

    def __init__(self, file: MappedFile, clock: Callable[[], float] = time.monotonic) -> None:
        memory = file.memory
        magic, bits, generation_size, generation_seconds, secret = _FIXED.unpack_from(memory)
        if magic != _MAGIC:
            raise ValueError(f"{file.path} holds no recent ids")
        self._file = file
        self._memory = memory
        self._generation_size: int = generation_size
        self._generation_seconds: float = generation_seconds
        self._slots: int = 1 << bits
        self._table_bytes = _SLOT << bits
        self._starts = (_TABLES_AT, _TABLES_AT + self._table_bytes)  # of the two tables
        self._shift: int = 128 - bits
        self._rotate_used = self._slots * 3 // 4
        self._secret = secret
        self._multiplier = _keyed(secret, b"slot") | 1
        self._organizations: dict[str, int] = {}
        self._clock = clock

    @classmethod
    def create(cls, run_dir: Path, capacity: int = 1_000_000, ttl_seconds: float = 15 * 60,
               clock: Callable[[], float] = time.monotonic) -> None:
        """A new, empty file in `run_dir` (for the supervisor, before it starts the workers)."""
        generation_size = max(1, capacity // 2)
        bits = max(4, (2 * generation_size - 1).bit_length())
        header = bytearray(_TABLES_AT)
        _FIXED.pack_into(header, 0, _MAGIC, bits, generation_size, ttl_seconds / 2, secrets.token_bytes(32))
        _STATE.pack_into(header, _STATE_AT, 0, 0, 0, 0, clock())
        MappedFile.create(run_dir / FILE_NAME, _TABLES_AT + 2 * (_SLOT << bits), bytes(header))

    @classmethod
    def attach(cls, run_dir: Path, clock: Callable[[], float] = time.monotonic) -> SharedRecentIds:
        """The file create() made in `run_dir` (for each worker)."""
        return cls(MappedFile(run_dir / FILE_NAME), clock)

    def close(self) -> None:
        self._file.close()

    def __len__(self) -> int:
        self._file.lock()
        try:
            _, size, _, previous_size, _ = _STATE.unpack_from(self._memory, _STATE_AT)
        finally:
            self._file.unlock()
        return int(size + previous_size)

    def __contains__(self, key: tuple[str, UUID]) -> bool:
        organization, event_id = key
        return bool(self.among(organization, (event_id.int,)))

    def among(self, organization: str, event_ids: Iterable[int]) -> set[int]:
        """Which of these ids (UUID.int) are remembered: a batch's, with the lock taken once."""
        mixed = self._organization(organization)
        seen = set()
        self._file.lock()
        try:
            current, _, _, previous_size, _ = self._rotated()
            probe, previous = self._probe, 1 - current
            for event_id in event_ids:
                entry = event_id ^ mixed
                if entry > _TOMBSTONE and (probe(current, entry) >= 0
                                           or (previous_size and probe(previous, entry) >= 0)):
                    seen.add(event_id)
        finally:
            self._file.unlock()
        return seen

    def remember(self, organization: str, event_ids: Iterable[int]) -> None:
        """Remember ids, given as their 128-bit integers (UUID.int)."""
        mixed, memory = self._organization(organization), self._memory
        self._file.lock()
        try:
            current, size, used, previous_size, started = self._rotated()
            for event_id in event_ids:
                if size >= self._generation_size or used >= self._rotate_used:
                    self._store(current, size, used, previous_size, started)
                    current, size, used, previous_size, started = self._rotate(self._clock())
                entry = event_id ^ mixed
                if entry <= _TOMBSTONE:
                    continue  # a key the table cannot tell from a free slot: not remembered
                at = self._probe(current, entry)
                if at < 0 and at != _NOWHERE:
                    memory[~at:~at + _SLOT] = entry.to_bytes(_SLOT, "little")
                    size += 1
                    used += 1
            self._store(current, size, used, previous_size, started)
        finally:
            self._file.unlock()

    def forget(self, organization: str, event_ids: Collection[int]) -> None:
        """Undo remember(): for ids whose enqueue failed, so that the client's retry is not a duplicate.
        A forgotten id's slot becomes a tombstone, which probes pass over and nothing reuses."""
        mixed, memory = self._organization(organization), self._memory
        self._file.lock()
        try:
            current, size, used, previous_size, started = _STATE.unpack_from(memory, _STATE_AT)
            for event_id in event_ids:
                entry = event_id ^ mixed
                for table in (current, 1 - current):
                    at = self._probe(table, entry) if entry > _TOMBSTONE else -1
                    if at >= 0:
                        memory[at:at + _SLOT] = _TOMBSTONE_SLOT
                        if table == current:
                            size -= 1
                        else:
                            previous_size -= 1
            self._store(current, size, used, previous_size, started)
        finally:
            self._file.unlock()

    def clear(self) -> None:
        """Forget every id (Percus Micro's reset)."""
        self._file.lock()
        try:
            self._clear(0)
            self._clear(1)
            self._store(0, 0, 0, 0, self._clock())
        finally:
            self._file.unlock()

    def _probe(self, table: int, entry: int) -> int:
        """The offset of `entry`'s slot in a table; else, bitwise inverted (so negative), the offset of
        the free slot where it would go; else _NOWHERE. Linear probing from a slot picked by the top
        bits of `entry` times an odd multiplier made of the secret."""
        memory, slot, slots = self._memory, entry.to_bytes(_SLOT, "little"), self._slots
        start, last = self._starts[table], slots - 1
        index = ((entry * self._multiplier) & _M128) >> self._shift
        for _ in range(slots):  # bounded, should a writer killed mid-write have left the counts short
            at = start + (index << 4)
            found = memory[at:at + _SLOT]
            if found == slot:
                return at
            if found == _EMPTY:
                return ~at
            index = (index + 1) & last
        return _NOWHERE

    def _rotated(self) -> tuple[int, int, int, int, float]:
        """The state, after a rotation if one is due. Called holding the lock, as all below."""
        state = _STATE.unpack_from(self._memory, _STATE_AT)
        _, size, used, _, started = state
        now = self._clock()
        if (now - started >= self._generation_seconds or size >= self._generation_size
                or used >= self._rotate_used):
            return self._rotate(now)
        return state

    def _rotate(self, now: float) -> tuple[int, int, int, int, float]:
        """Drops the previous generation: the current one takes its place."""
        current, size, _, _, started = _STATE.unpack_from(self._memory, _STATE_AT)
        fresh = 1 - current
        # Cleared before the state names it current: a writer killed while clearing leaves the
        # previous table with holes, which only make probes stop early (never a false duplicate).
        self._clear(fresh)
        previous_size = size
        if now - started >= 2 * self._generation_seconds:  # two generations idle for a TTL: both stale
            self._clear(current)
            previous_size = 0
        state = (fresh, 0, 0, previous_size, now)
        self._store(*state)
        return state

    def _clear(self, table: int) -> None:
        start = self._starts[table]
        self._memory[start:start + self._table_bytes] = bytes(self._table_bytes)

    def _store(self, current: int, size: int, used: int, previous_size: int, started: float) -> None:
        _STATE.pack_into(self._memory, _STATE_AT, current, size, used, previous_size, started)

    def _organization(self, organization: str) -> int:
        mixed = self._organizations.get(organization)
        if mixed is None:
            if len(self._organizations) >= 10_000:
                self._organizations.clear()
            mixed = self._organizations[organization] = _keyed(self._secret, b"org:" + organization.encode())
        return mixed


def _keyed(secret: bytes, data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, key=secret, digest_size=16).digest(), "little")
