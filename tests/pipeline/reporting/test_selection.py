"""pipeline/reporting/selection.py: a Selection is well formed, and text is refused with the API's code
and field and a message naming the parameter as the edge calls it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from pipeline.reporting.selection import (
    Selection,
    SelectionError,
    parse_date,
    parse_minutes,
    parse_range,
    parse_slug,
)

D1, D2 = date(2026, 11, 24), date(2026, 11, 25)


def test_a_selection_is_well_formed() -> None:
    with pytest.raises(ValueError, match="after"):
        Selection(date_from=D2, date_to=D1)
    with pytest.raises(ValueError, match="project_id"):
        Selection(project_id="../x")
    assert Selection(date_from=D1, include_bots=True).as_json() == {
        "project_id": None, "template_id": None, "from": "2026-11-24", "to": None, "include_bots": True}


def test_text_is_parsed_once() -> None:
    assert parse_range("2026-11-24", None) == (D1, None)
    assert parse_range(None, None) == (None, None)
    assert parse_date("2026-11-25", "to") == D2
    assert parse_minutes("15") == 15
    assert parse_slug("spring-launch", "project") == "spring-launch"


@pytest.mark.parametrize(("refused", "code", "field", "message"), [
    (lambda: parse_date("24-11-2026", "--from"), "invalid_date", "--from",
     "--from must be a date as YYYY-MM-DD, not '24-11-2026'"),
    (lambda: parse_range("1999-12-31", None), "invalid_date", "from", "from must lie between 2000-01-01"),
    (lambda: parse_range("2026-11-25", "2026-11-24", names=("--from", "--to")), "invalid_range", "from",
     "--from (2026-11-25) is after --to (2026-11-24)"),
    (lambda: parse_range("2020-01-01", "2026-01-01"), "range_too_long", "from", "a range spans at most 1098"),
    (lambda: parse_minutes("0", "--minutes"), "invalid_parameter", "minutes",
     "--minutes must be a whole number from 1 to 1440"),
    (lambda: parse_slug("../etc", "project_id"), "invalid_parameter", "project_id", "project_id '../etc'"),
])
def test_refusals_carry_the_code_and_the_field(refused: Callable[[], object], code: str, field: str,
                                               message: str) -> None:
    with pytest.raises(SelectionError) as caught:
        refused()
    assert (caught.value.code, caught.value.field) == (code, field)
    assert str(caught.value).startswith(message)
