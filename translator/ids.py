"""The id rule: organization, project and other ids become storage path segments, so they keep to a
safe alphabet. Every layer checks ids with this one function."""

from __future__ import annotations

import re

SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_SLUG = re.compile(SLUG_PATTERN)


def check_slug(value: str, what: str = "identifier") -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(f"{what} {value!r} must be 1-64 characters of letters, digits, '_', '-', '.'")
    return value
