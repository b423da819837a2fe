"""The raw zone's object format: gzip-compressed NDJSON, one stored canonical event per line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from isal import igzip, isal_zlib

# ISA-L's gzip (python-isal) writes and reads standard gzip members (RFC 1952), as zlib, pyarrow
# and DuckDB read them, with a fraction of zlib's CPU. `python -m bench.rawfile` (1000 stored events of
# ~740 B, 150 sessions): ISA-L level 1 compresses in 0.2-0.3x the CPU of zlib level 3 (written before)
# into 0.87x the bytes, and inflates in 0.23x zlib's CPU; zlib level 6 costs 2x level 3's CPU for
# about ISA-L level 1's bytes.
LEVEL = 1
_MEMBER_START = b"\x1f\x8b\x08"  # a gzip member's magic and its one method, deflate


def encode(lines: Iterable[bytes]) -> bytes:
    """Join already-serialised events (JSON without newlines) into one raw object."""
    return igzip.compress(b"\n".join([*lines, b""]), compresslevel=LEVEL, mtime=0)  # one copy, not two


def inflate(data: bytes) -> tuple[bytes, str | None]:
    """As much text as the object's gzip members yield, and what went wrong if they did not end
    cleanly (`truncated_gzip`, `bad_gzip`): the readable part of a corrupt object."""
    out: list[bytes] = []
    rest = data
    try:
        while rest:
            # ISA-L waits for a whole header before judging one: bytes that cannot start one are bad.
            if not _MEMBER_START.startswith(rest[:3]):
                return b"".join(out), "bad_gzip"
            inflater = isal_zlib.decompressobj(wbits=31)
            out.append(inflater.decompress(rest))
            if not inflater.eof:
                return b"".join(out), "truncated_gzip"
            rest = inflater.unused_data
    except isal_zlib.error:  # type: ignore[misc]  # a class; python-isal's stub calls it an instance
        return b"".join(out), "bad_gzip"
    return b"".join(out), None


def decode(data: bytes) -> Iterator[dict[str, Any]]:
    """Events of a raw object. Raises ValueError on a corrupt one."""
    text, problem = inflate(data)
    if problem is not None:
        raise ValueError(f"raw object: {problem}")
    for line in text.splitlines():
        if line.strip():
            event = json.loads(line)
            if not isinstance(event, dict):
                raise ValueError("raw line is not a JSON object")
            yield event
