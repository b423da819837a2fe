"""A generated block in a hand-written document: what lies between two marker lines is rewritten
from the code (`percus docs`), and a test keeps the committed copy in sync."""

from __future__ import annotations


def replace_block(text: str, begin: str, end: str, block: str) -> str:
    """`text` with what lies between the `begin` and `end` markers replaced by `block`."""
    start = text.find(begin)
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        raise ValueError(f"the document needs the lines {begin} and {end}, in that order")
    return f"{text[:start]}{begin}\n{block}{text[stop:]}"
