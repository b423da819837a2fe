"""docs/operations.md, "Command line": every command it lists exists, with the options it shows."""

from __future__ import annotations

import re

import pytest

from percus.cli import main
from tests.conftest import REPO


def documented() -> list[tuple[list[str], set[str]]]:
    """(command words, options) of each row of the section's table; `a\\|b` words are alternatives."""
    text = (REPO / "docs" / "operations.md").read_text()
    section = text.split("## Command line\n", 1)[1].split("\n## ", 1)[0]
    found = []
    for row in re.findall(r"^\| `percus ([^`]+)` \|", section, flags=re.MULTILINE):
        words = [word for word in row.split() if re.fullmatch(r"[a-z][a-z\\|-]*", word)]
        options = set(re.findall(r"--[a-z][a-z-]*", row))
        # a group: two words
        grouped = words[0] in ("report", "org", "legacy", "migrate", "export", "outcomes")
        head = words[:2] if grouped else words[:1]
        alternatives = head[-1].split("\\|")
        found += [([*head[:-1], choice], options) for choice in alternatives]
    return found


def test_the_section_lists_the_commands() -> None:
    commands = {" ".join(words) for words, _ in documented()}
    assert {"serve", "compact", "rollup", "org create", "org set", "legacy register", "migrate check",
            "export csv", "outcomes import"} <= commands
    assert {f"report {name}" for name in ("summary", "dropoff", "ctas", "chapters", "breakdown", "errors",
                                          "live")} <= commands


@pytest.mark.parametrize(("words", "options"), documented(), ids=lambda value: " ".join(value)
                         if isinstance(value, list) else "")
def test_each_documented_command_has_its_options(words: list[str], options: set[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*words, "--help"])
    assert exit_.value.code == 0
    shown = capsys.readouterr().out
    for option in options:
        assert option in shown, (words, option)
