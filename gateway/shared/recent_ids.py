"""RecentIds for every worker at once: the event ids enqueued recently, in one table linked from the run
directory, so a client's retry is answered as a duplicate whichever worker its connection reaches."""

from __future__ import annotations

import hashlib
import secrets
import struct
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

from gateway.shared.mapped_file import MappedFile
from gateway.shared.owners import Owners

FILE_NAME = "recent_ids"
_MAGIC = b"PRCSRID3"
_FIXED = struct.Struct("<8sIQd32s")  # magic, slot bits, generation size, generation seconds, secret
_STATE = struct.Struct("<QQQQd4s4s")  # see _State
_STATE_AT = 64
_NEXT_OWNER = struct.Struct("<I")  # the number the next process to attach takes
_NEXT_OWNER_AT = 128
_TABLES_AT = 4096
_KEY = 16
_OWNER = 4
_SLOT = _KEY + 4 + _OWNER  # the key, the epoch of the table it was written in, the process that wrote it
_M128 = (1 << 128) - 1
_TOMBSTONE = 1  # the key of a forgotten id's slot: no id whose key is this is ever remembered
_NOWHERE = -(1 << 62)  # _probe() found neither the key nor a free slot

# current table (0 or 1), its ids, its used slots (tombstones too), the previous table's ids, when the
# current one started, the epochs of tables 0 and 1 (32-bit little-endian, never 0: a zeroed slot's)
_State = tuple[int, int, int, int, float, bytes, bytes]


class SharedRecentIds:
    """RecentIds' rules (gateway/recent_ids.py) over two open-addressing hash tables in a mapped file,
    one per generation: at most `capacity` ids, each remembered for between `ttl_seconds / 2` and
    `ttl_seconds`. Each table has the next power of two at or above `capacity` slots of 24 bytes, so
    it is at most half full: 1,000,000 ids take 48 MiB of the file, shared by all the workers.

    A slot holds the id's 128-bit integer XOR a 128-bit hash of its organization keyed with a secret
    made by create(): for one organization the map is one-to-one, so a stored key says exactly which
    id was enqueued (a false duplicate would lose an event); another organization's id could only
    match by a 128-bit hash collision, which no client can aim at without the secret. The slot is
    found by a keyed multiplicative hash of the key, so ids chosen to collide do not pile up either.

    A slot also holds the number of the process that remembered it (gateway/shared/owners.py): an id
    whose process has died since is not a duplicate. That process may have died before it enqueued
    the event, and the client, whose connection it reset, resends it; the id the dead process
    remembered must not answer the resend (an event enqueued twice is one the compactor drops).

    A slot also holds its table's epoch when it was written; a slot of another epoch is free. So a
    rotation clears a table by giving it a new epoch, and holds the lock no longer than any other
    operation (zeroing a table of 16 MiB took 15-60 ms). Forgotten ids leave tombstones; a table whose
    slots are three quarters used rotates too.

    Every operation takes the file's lock once (among(), claim() and forget() once for a whole
    batch); `time.monotonic()` is system-wide on Linux, so the generations' ages read alike in every
    process.
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
        self._table_bytes = _SLOT * self._slots
        self._starts = (_TABLES_AT, _TABLES_AT + self._table_bytes)  # of the two tables
        self._bound = range(self._slots)
        self._shift: int = 128 - bits
        self._rotate_used = self._slots * 3 // 4
        self._secret = secret
        self._multiplier = _keyed(secret, b"slot") | 1
        self._organizations: dict[str, int] = {}
        self._clock = clock
        file.lock()
        try:
            (number,) = _NEXT_OWNER.unpack_from(memory, _NEXT_OWNER_AT)
            _NEXT_OWNER.pack_into(memory, _NEXT_OWNER_AT, number + 1)
        finally:
            file.unlock()
        self._owners = Owners(_owners_directory(file.path), number)
        self._owner = number.to_bytes(_OWNER, "little")

    @classmethod
    def create(cls, run_dir: Path, capacity: int = 1_000_000, ttl_seconds: float = 15 * 60,
               clock: Callable[[], float] = time.monotonic) -> None:
        """A new, empty file in `run_dir` (for the supervisor, before it starts the workers)."""
        generation_size = max(1, capacity // 2)
        bits = max(4, (2 * generation_size - 1).bit_length())
        header = bytearray(_TABLES_AT)
        _FIXED.pack_into(header, 0, _MAGIC, bits, generation_size, ttl_seconds / 2, secrets.token_bytes(32))
        _STATE.pack_into(header, _STATE_AT, 0, 0, 0, 0, clock(), _epoch(1), _epoch(2))
        _owners_directory(run_dir / FILE_NAME).mkdir(mode=0o700, exist_ok=True)
        MappedFile.create(run_dir / FILE_NAME, _TABLES_AT + 2 * (_SLOT << bits), bytes(header))

    @classmethod
    def attach(cls, run_dir: Path, clock: Callable[[], float] = time.monotonic) -> SharedRecentIds:
        """The file create() made in `run_dir` (for each worker)."""
        return cls(MappedFile(run_dir / FILE_NAME), clock)

    def close(self) -> None:
        self._owners.close()
        self._file.close()

    def __len__(self) -> int:
        self._file.lock()
        try:
            state = self._state()
        finally:
            self._file.unlock()
        return state[1] + state[3]

    def among(self, organization: str, event_ids: Iterable[int]) -> set[int]:
        """Which of these ids (UUID.int) are remembered: a batch's, with the lock taken once."""
        mixed = self._organization(organization)
        seen = set()
        self._file.lock()
        try:
            state = self._rotated()
            probe, alive, current = self._probe, self._alive, self._table(state, 0)
            previous = self._table(state, 1) if state[3] else None
            for event_id in event_ids:
                entry = event_id ^ mixed
                if entry == _TOMBSTONE:
                    continue
                at = probe(current, entry)
                if (at >= 0 and alive(at)) or (previous is not None and (at := probe(previous, entry)) >= 0
                                               and alive(at)):
                    seen.add(event_id)
        finally:
            self._file.unlock()
        return seen

    def claim(self, organization: str, event_ids: Iterable[int]) -> set[int]:
        """Remembers the ids (UUID.int) not remembered yet, and returns the others: they are another
        request's (in this process or another). One lock for the whole batch. An id given twice is
        claimed once."""
        mixed, memory, seen = self._organization(organization), self._memory, set()
        self._file.lock()
        try:
            state = self._rotated()
            size, used, current = state[1], state[2], self._table(state, 0)
            previous = self._table(state, 1) if state[3] else None
            for event_id in dict.fromkeys(event_ids):
                if size >= self._generation_size or used >= self._rotate_used:
                    self._store(state[0], size, used, *state[3:])
                    state = self._rotate(self._clock())
                    size, used, current = state[1], state[2], self._table(state, 0)
                    previous = self._table(state, 1) if state[3] else None
                entry = event_id ^ mixed
                if entry == _TOMBSTONE:
                    continue  # a key that could not be told from a tombstone: not remembered
                at = self._probe(current, entry)
                if at >= 0:
                    if self._alive(at):
                        seen.add(event_id)
                    else:  # remembered already; by a process that has died since, it is ours now
                        memory[at + _SLOT - _OWNER:at + _SLOT] = self._owner
                elif previous is not None and self._alive(self._probe(previous, entry)):
                    seen.add(event_id)
                elif at != _NOWHERE:
                    memory[~at:~at + _SLOT] = entry.to_bytes(_KEY, "little") + current[1] + self._owner
                    size += 1
                    used += 1
            self._store(state[0], size, used, *state[3:])
        finally:
            self._file.unlock()
        return seen

    def forget(self, organization: str, event_ids: Collection[int]) -> None:
        """Undo claim(): for ids whose enqueue failed, so that the client's retry is not
        a duplicate. A forgotten id's slot becomes a tombstone, which probes pass over and nothing
        reuses."""
        mixed, memory = self._organization(organization), self._memory
        self._file.lock()
        try:
            state = self._state()
            sizes = [state[1], state[3]]  # of the current table and the previous one
            tables = (self._table(state, 0), self._table(state, 1))
            for event_id in event_ids:
                entry = event_id ^ mixed
                for which, table in enumerate(tables):
                    at = self._probe(table, entry) if entry != _TOMBSTONE else -1
                    if at >= 0:
                        memory[at:at + _SLOT] = _TOMBSTONE.to_bytes(_KEY, "little") + table[1] + self._owner
                        sizes[which] -= 1
            self._store(state[0], sizes[0], state[2], sizes[1], *state[4:])
        finally:
            self._file.unlock()

    def clear(self) -> None:
        """Forget every id (Percus Micro's reset)."""
        self._file.lock()
        try:
            epoch = max(_number(epoch) for epoch in self._state()[5:])
            self._store(0, 0, 0, 0, self._clock(), _epoch(epoch + 1), _epoch(epoch + 2))
        finally:
            self._file.unlock()

    def _probe(self, table: tuple[int, bytes], entry: int) -> int:
        """The offset of `entry`'s slot in a table (its start and epoch); else, bitwise inverted (so
        negative), the offset of the free slot where it would go; else _NOWHERE. Linear probing from
        a slot picked by the top bits of `entry` times an odd multiplier made of the secret."""
        start, epoch = table
        memory, keyed, end = self._memory, entry.to_bytes(_KEY, "little") + epoch, start + self._table_bytes
        at = start + (((entry * self._multiplier) & _M128) >> self._shift) * _SLOT
        for _ in self._bound:  # bounded, should a writer killed mid-write have left the counts short
            found = memory[at:at + _SLOT]
            if found.startswith(keyed):
                return at
            if not found.startswith(epoch, _KEY):
                return ~at
            at += _SLOT
            if at == end:
                at = start
        return _NOWHERE

    def _alive(self, at: int) -> bool:
        """Whether _probe() found a slot (`at` >= 0), written by a process still alive."""
        owner = self._memory[at + _SLOT - _OWNER:at + _SLOT] if at >= 0 else b""
        return bool(owner) and self._owners.alive(int.from_bytes(owner, "little"))

    def _table(self, state: _State, age: int) -> tuple[int, bytes]:
        """The start and the epoch's bytes of the current table (age 0) or the previous one (1)."""
        table = state[0] ^ age
        return self._starts[table], state[6] if table else state[5]

    def _state(self) -> _State:
        state: _State = _STATE.unpack_from(self._memory, _STATE_AT)
        return state

    def _rotated(self) -> _State:
        """The state, after a rotation if one is due. Called holding the lock, as all below."""
        state = self._state()
        now = self._clock()
        if (now - state[4] >= self._generation_seconds or state[1] >= self._generation_size
                or state[2] >= self._rotate_used):
            return self._rotate(now)
        return state

    def _rotate(self, now: float) -> _State:
        """Drops the previous generation: the current one takes its place."""
        current, size, _, _, started, *epochs = self._state()
        fresh, epoch = 1 - current, max(_number(epoch) for epoch in epochs) + 1
        epochs[fresh] = _epoch(epoch)  # clears it
        if now - started >= 2 * self._generation_seconds:  # two generations idle for a TTL: both stale
            epochs[current], size = _epoch(epoch + 1), 0
        state = (fresh, 0, 0, size, now, epochs[0], epochs[1])
        self._store(*state)
        return state

    def _store(self, current: int, size: int, used: int, previous_size: int, started: float,
               epoch_0: bytes, epoch_1: bytes) -> None:
        _STATE.pack_into(self._memory, _STATE_AT, current, size, used, previous_size, started, epoch_0,
                         epoch_1)

    def _organization(self, organization: str) -> int:
        mixed = self._organizations.get(organization)
        if mixed is None:
            if len(self._organizations) >= 10_000:
                self._organizations.clear()
            mixed = self._organizations[organization] = _keyed(self._secret, b"org:" + organization.encode())
        return mixed


def _owners_directory(path: Path) -> Path:
    return path.with_name(path.name + ".owners")


def _epoch(number: int) -> bytes:
    """An epoch as stored: modulo 2**32 - 1, plus 1, so never 0 (a run directory made anew at every
    start sees no more rotations than that)."""
    return ((number - 1) % 0xFFFFFFFF + 1).to_bytes(4, "little")


def _number(epoch: bytes) -> int:
    return int.from_bytes(epoch, "little")


def _keyed(secret: bytes, data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, key=secret, digest_size=16).digest(), "little")
