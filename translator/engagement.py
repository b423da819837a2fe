"""The engagement buckets: which hundredths of a video a session watched, and watched again.

A set of buckets travels as 25 lowercase hex characters, 100 bits: bucket 0 (0-1 % of the duration)
is the most significant bit of the first character, bucket 99 the least significant bit of the last
(docs/player-protocol.md). The player computes them; the reports count them in SQL, one character
test per bucket (`hex_digits_with_bit`), so both engines read them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

BUCKETS = 100
HEX_CHARS = BUCKETS // 4
BUCKET_SET_PATTERN = rf"^[0-9a-f]{{{HEX_CHARS}}}$"
_DIGITS = "0123456789abcdef"


def encode(buckets: Iterable[int]) -> str:
    """The wire form of a set of bucket numbers (0-99)."""
    bits = 0
    for bucket in buckets:
        if not 0 <= bucket < BUCKETS:
            raise ValueError(f"bucket {bucket} is outside 0-{BUCKETS - 1}")
        bits |= 1 << (BUCKETS - 1 - bucket)
    return f"{bits:0{HEX_CHARS}x}"


def decode(text: str) -> frozenset[int]:
    """The bucket numbers of a wire form (checked against BUCKET_SET_PATTERN by the models)."""
    bits = int(text, 16)
    return frozenset(bucket for bucket in range(BUCKETS) if bits >> (BUCKETS - 1 - bucket) & 1)


def hex_digits_with_bit(bucket: int) -> tuple[int, str]:
    """Where a bucket's bit sits: the 1-based character position, and the hex digits that set it."""
    position, bit = divmod(bucket, 4)
    mask = 8 >> bit
    return position + 1, "".join(digit for value, digit in enumerate(_DIGITS) if value & mask)
