"""The wire form of watched buckets: 25 hex characters, bucket 0 the most significant bit."""

from __future__ import annotations

import re

import pytest

from translator.engagement import BUCKET_SET_PATTERN, BUCKETS, decode, encode, hex_digits_with_bit


def test_bucket_zero_is_the_most_significant_bit_of_the_first_character() -> None:
    assert encode([0]) == "8" + "0" * 24
    assert encode([3]) == "1" + "0" * 24
    assert encode([99]) == "0" * 24 + "1"
    assert encode(range(40)) == "f" * 10 + "0" * 15
    assert encode(()) == "0" * 25 and encode(range(BUCKETS)) == "f" * 25


@pytest.mark.parametrize("buckets", [(), (0,), (99,), tuple(range(0, 100, 3)), tuple(range(10, 40))])
def test_decode_reverses_encode_and_the_form_matches_the_pattern(buckets: tuple[int, ...]) -> None:
    text = encode(buckets)
    assert re.fullmatch(BUCKET_SET_PATTERN, text)
    assert decode(text) == frozenset(buckets)


def test_each_buckets_character_test_reads_what_encode_wrote() -> None:
    """The reports' SQL tests one character per bucket (pipeline/query/sql.py)."""
    for bucket in range(BUCKETS):
        position, digits = hex_digits_with_bit(bucket)
        assert len(digits) == 8
        assert encode([bucket])[position - 1] in digits
        others = encode(b for b in range(BUCKETS) if b != bucket)
        assert others[position - 1] not in digits


def test_a_bucket_outside_the_hundred_is_refused() -> None:
    with pytest.raises(ValueError, match="100"):
        encode([100])
