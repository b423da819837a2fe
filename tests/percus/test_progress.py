"""Progress of long commands (percus/cli/progress.py): a bar on a terminal, plain lines elsewhere
(every 10 % of the work or every PLAIN_SECONDS, and at the end). The clock is a counter the test moves."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from percus.cli import progress
from percus.cli.progress import Reporter
from pipeline.store.local import LocalStore
from tests.percus._cli import run
from tests.pipeline._sessions import ingest, known_sessions


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_every_tenth_of_the_work_and_at_the_end() -> None:
    out, clock = io.StringIO(), Clock()
    with Reporter("rollup", "days", stream=out, clock=clock) as report:
        for done in range(1, 201):
            report(done, 200, None)
    lines = out.getvalue().splitlines()
    assert lines[0] == "rollup: 1/200 days (0 %)"
    assert lines[1:] == [f"rollup: {n * 20}/200 days ({n * 10} %)" for n in range(1, 11)]
    assert "\r" not in out.getvalue()


def test_plain_lines_every_few_seconds_when_the_work_is_slow_or_of_unknown_size() -> None:
    out, clock = io.StringIO(), Clock()
    report = Reporter("import", "rows read", detail=lambda stored: f"{stored:,} stored", stream=out,
                      clock=clock)
    report(1_000, None, 1_000)  # the first step is always shown
    clock.now += progress.PLAIN_SECONDS / 2
    report(2_000, None, 2_000)  # too soon, and no share of a total to cross
    clock.now += progress.PLAIN_SECONDS
    report(3_000, None, 2_999)
    assert out.getvalue().splitlines() == ["import: 1,000 rows read; 1,000 stored",
                                           "import: 3,000 rows read; 2,999 stored"]


def test_a_bar_redrawn_in_place_on_a_terminal() -> None:
    out, clock = Terminal(), Clock()
    with Reporter("dsar", "objects", stream=out, clock=clock) as report:
        report(1, 4, None)
        report(2, 4, None)  # within REDRAW_SECONDS: not drawn
        clock.now += 1
        report(3, 4, None)
        report(4, 4, None)  # the end is always drawn, with its line end
    text = out.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "[" + "#" * 18 + "." * 6 + "] dsar: 3/4 objects (75 %)" in text
    assert text.rsplit("\r\x1b[K", 1)[1] == "[" + "#" * 24 + "] dsar: 4/4 objects (100 %)\n"


def test_a_note_clears_the_bar_and_the_bar_comes_back() -> None:
    out, clock = Terminal(), Clock()
    with Reporter("replay", "lines read", stream=out, clock=clock) as report:
        report(500, None, None)
        report.note("line 7: not a JSON value")
        report(1_000, None, None)  # within REDRAW_SECONDS, yet drawn: the note took its place
    assert out.getvalue() == ("\r\x1b[Kreplay: 500 lines read\r\x1b[Kline 7: not a JSON value\n"
                              "\r\x1b[Kreplay: 1,000 lines read\n")


def test_a_bar_stopped_short_ends_its_line() -> None:
    out = Terminal()
    with Reporter("export", "files", stream=out, clock=Clock()) as report:
        report(1, 3, None)
    assert out.getvalue().endswith("(33 %)\n")


def test_the_rollup_command_reports_its_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = LocalStore(tmp_path / "bucket")
    sessions, duplicates = known_sessions()
    ingest(store, sessions, duplicates)
    code, out, err = run(capsys, "rollup", "--data-dir", str(tmp_path))
    days = int(out.split(",")[0].removeprefix("days built: "))
    assert code == 0 and days > 1
    assert err.splitlines()[0].startswith(f"rollup: 1/{days} days")
    assert err.splitlines()[-1].startswith(f"rollup: {days}/{days} days (100 %); ")
