"""The rate limits' token buckets for every worker at once, in one table linked from the run
directory, so a client gets its limit once whichever workers its connections reach."""

from __future__ import annotations

import mmap
import secrets
import struct
from collections.abc import Iterable
from pathlib import Path

from gateway.middleware.rate_limit import Limit
from gateway.shared.mapped_file import MappedFile

FILE_NAME = "rate_limits"
_MAGIC = b"PRCSRLB2"
_HEADER = struct.Struct("<8sI")  # magic, slot bits
_TABLE_AT = 4096
_SLOT = struct.Struct("<16sdd")  # key (a salted hash), tokens, when they were counted
_WINDOW = 8  # the slots from a key's home slot where its bucket may be
_FREE = bytes(16)


class SharedBuckets:
    """One table of buckets of every kind (the keys are hashed with their kind, the limit is the
    caller's), `capacity` buckets at most half filling it: 32 bytes a slot, so the default 200,000
    (100,000 client addresses and as many share tokens) take 16 MiB. A bucket lives in one of the
    `_WINDOW` slots from its home slot (its key's first bytes: the keys are salted hashes, so clients
    cannot aim at a slot); with the window full, its least recently used bucket makes room. A
    forgotten bucket starts full, as in the in-process Buckets.

    The salt the keys are hashed with is made by create() and handed to every worker, so that all
    of them key a client alike; it is never written down, so the table (in memory, but readable by
    whoever may open the link to it) holds keys that cannot be tied back to an address or a token
    (an IPv4 address, hashed with a known salt, is found again by trying them all)."""

    def __init__(self, file: MappedFile, salt: bytes) -> None:
        magic, bits = _HEADER.unpack_from(file.memory)
        if magic != _MAGIC:
            raise ValueError(f"{file.path} holds no rate limit buckets")
        self.salt = salt
        self._file = file
        self._mask = (1 << bits) - 1

    @classmethod
    def create(cls, run_dir: Path, capacity: int = 200_000) -> bytes:
        """A new file in `run_dir`, every bucket full (for the supervisor, before it starts the
        workers), and the salt to give each of them for attach(): keep it in memory only."""
        bits = max(4, (2 * capacity - 1).bit_length())
        header = bytearray(_TABLE_AT)
        _HEADER.pack_into(header, 0, _MAGIC, bits)
        size = _TABLE_AT + _SLOT.size * ((1 << bits) + _WINDOW - 1)  # windows never wrap
        MappedFile.create(run_dir / FILE_NAME, size, bytes(header))
        return secrets.token_bytes(16)

    @classmethod
    def attach(cls, run_dir: Path, salt: bytes) -> SharedBuckets:
        """The file create() made in `run_dir`, with the salt it returned (for each worker)."""
        return cls(MappedFile(run_dir / FILE_NAME), salt)

    def close(self) -> None:
        self._file.close()

    def limited(self, limit: Limit) -> LimitedBuckets:
        """The buckets, as Buckets (gateway/middleware/rate_limit.py) with this limit takes from them."""
        return LimitedBuckets(self, limit)

    def take(self, limit: Limit, key: bytes, now: float) -> float:
        """Buckets.take() on the bucket of `key`, a salted hash of 16 bytes."""
        return self.take_in_turn(((limit, key),), now)

    def take_in_turn(self, takes: Iterable[tuple[Limit, bytes]], now: float) -> float:
        """take() on each bucket in turn until one refuses (its wait), under one lock: a POST counts
        against its client address's limit, then its share token's."""
        self._file.lock()
        try:
            for limit, key in takes:
                wait = self._take(limit, key, now)
                if wait:
                    return wait
            return 0.0
        finally:
            self._file.unlock()

    def _take(self, limit: Limit, key: bytes, now: float) -> float:
        memory, size = self._file.memory, _SLOT.size
        start = _TABLE_AT + (int.from_bytes(key[:8], "little") & self._mask) * size
        end = start + _WINDOW * size
        at = _slot_of(memory, key, start, end)
        if at >= 0:
            _, tokens, counted = _SLOT.unpack_from(memory, at)
        else:
            at = _slot_of(memory, _FREE, start, end)
            if at < 0:
                at = min(range(start, end, size), key=lambda used: float(_SLOT.unpack_from(memory, used)[2]))
            tokens, counted = limit.burst, now
        # max(): another worker may have counted this bucket at a later `now` than ours.
        tokens = min(limit.burst, tokens + max(0.0, now - counted) * limit.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / limit.rate
        _SLOT.pack_into(memory, at, key, tokens, max(now, counted))
        return wait


class LimitedBuckets:
    def __init__(self, shared: SharedBuckets, limit: Limit) -> None:
        self._shared, self._limit = shared, limit

    def take(self, key: bytes, now: float) -> float:
        return self._shared.take(self._limit, key, now)


def _slot_of(memory: mmap.mmap, key: bytes, start: int, end: int) -> int:
    """The offset of the slot between `start` and `end` whose key is `key`, or -1 (a match across
    slots is none). Searched in place: a copy of the window cost as much as the search."""
    at = memory.find(key, start, end)
    while at >= 0 and (at - start) % _SLOT.size:
        at = memory.find(key, at + 1, end)
    return at
