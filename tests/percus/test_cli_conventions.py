"""The conventions of every `percus` command, checked on the parser itself (every command, every
group, recursively), so a command added later follows them or fails here:

- an organization is taken as `--org ORG`; the positional `ORG` works only as the documented shortcut
  of the commands in SHORTCUTS, and giving both is an error;
- a boolean is `--x/--no-x` (a bare `--no-x` beside a valued option, like `--no-retention-override`
  beside `--retention-days N`, is itself the negative form);
- every option and positional has a help text, which says the default when there is one;
- the commands that list or report take `--format table|json`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from percus.cli import build_parser, shared
from tests.percus._cli import run

SHORTCUTS = {"org create", "org set", "org show", "org key", "org digest", "org webhook", "digest"}
LISTS_OR_REPORTS = {"org list", "org show", "org key", "audit list", "webhook dead-letters", "migrate check"}


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[str, argparse.ArgumentParser]]:
    """(the command's words, its parser) of every command, groups walked recursively."""
    subparsers = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not subparsers:
        yield " ".join(path), parser
    for action in subparsers:
        for name, sub in action.choices.items():
            yield from commands(sub, (*path, name))


COMMANDS = dict(commands(build_parser()))


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [action for action in parser._actions if not isinstance(action, argparse._HelpAction)]


def test_the_walk_finds_every_command() -> None:
    assert {"serve", "org create", "report summary", "report outcomes", "webhook redrive", "audit list",
            "migrate check", "docs"} <= set(COMMANDS)
    assert len(COMMANDS) > 30


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_organization_is_taken_as_org(name: str) -> None:
    for action in options(COMMANDS[name]):
        mentions = "org" in action.dest or (action.metavar or "").upper() == "ORG" or any(
            "org" in option for option in action.option_strings)
        if not mentions:
            continue
        if action.dest == "org_shortcut":
            assert name in SHORTCUTS, f"{name}: a positional ORG is a shortcut only for {sorted(SHORTCUTS)}"
            assert not action.option_strings and action.nargs == "?"
        else:
            assert (action.dest, action.option_strings) == ("org", ["--org"]), (name, action.option_strings)
    if name in SHORTCUTS:
        assert "org_shortcut" in {action.dest for action in options(COMMANDS[name])}, name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_booleans_have_their_no_form(name: str) -> None:
    for action in options(COMMANDS[name]):
        if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction
                      | argparse._StoreConstAction):
            assert all(option.startswith("--no-") for option in action.option_strings), (
                f"{name} {action.option_strings}: a boolean is --x/--no-x (shared.flag)")
        if isinstance(action, argparse.BooleanOptionalAction):
            assert len(action.option_strings) == 2, (name, action.option_strings)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help_saying_its_default(name: str) -> None:
    parser = COMMANDS[name]
    formatter = parser._get_formatter()
    for action in options(parser):
        assert action.help, f"{name} {action.option_strings or action.dest}: no help text"
        shown = formatter._expand_help(action)
        if action.default is not None and action.default is not argparse.SUPPRESS and action.option_strings:
            assert "default" in shown, f"{name} {action.option_strings}: the help does not say the default"
            if not isinstance(action.default, bool):
                assert str(action.default) in shown, f"{name} {action.option_strings}: {shown!r}"


@pytest.mark.parametrize("name", sorted(LISTS_OR_REPORTS | {name for name in COMMANDS
                                                            if name.startswith("report ")}))
def test_commands_that_list_or_report_take_format(name: str) -> None:
    [action] = [action for action in options(COMMANDS[name]) if action.option_strings == ["--format"]]
    assert action.choices == ("table", "json")
    assert action.default == ("json" if name == "audit list" else "table")


def test_the_shortcut_and_the_option_are_the_same(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert run(capsys, "org", "create", "acme", *data)[0] == 0
    assert run(capsys, "org", "create", "--org", "globex", *data)[0] == 0
    code, out, _ = run(capsys, "org", "list", "--format", "json", *data)
    assert code == 0 and '"acme"' in out and '"globex"' in out
    by_option = run(capsys, "org", "show", "--org", "acme", *data)[1]
    assert by_option == run(capsys, "org", "show", "acme", *data)[1]
    shown = json.loads(run(capsys, "org", "show", "acme", "--format", "json", *data)[1])
    assert shown["organization_id"] == "acme" and shown["salt"].endswith("…") and len(shown["salt"]) == 5

    assert run(capsys, "org", "show", "acme", "--org", "acme", *data) == (
        2, "", "percus: error: give the organization once: acme or --org acme, not both\n")
    assert run(capsys, "org", "key", "acme", "--org", "globex", *data)[0] == 2
    assert run(capsys, "org", "show", *data) == (
        2, "", "percus: error: the organization is required: --org ORG\n")


def test_a_flag_and_its_no_form() -> None:
    parser = build_parser()
    assert parser.parse_args(["legacy", "register", "--org", "a", "--project", "p", "--attachment-code", "c",
                              "--no-consent-required", "--tracking"]).consent_required is False
    assert parser.parse_args(["export", "csv", "--org", "a", "--no-include-bots"]).include_bots is False
    assert parser.parse_args(["export", "csv", "--org", "a", "--include-bots"]).include_bots is True
    args = parser.parse_args(["digest", "acme", "--no-preview"])
    shared.resolve_org(args)
    assert (args.org, args.preview) == ("acme", False)


def test_audit_list_keeps_json_lines_and_has_a_table(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(tmp_path)]
    run(capsys, "org", "create", "acme", "--retention-days", "30", *data)
    code, out, _ = run(capsys, "audit", "list", "--action", "org", *data)
    [record] = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and record["action"] == "org.created"
    header, row = run(capsys, "audit", "list", "--action", "org", "--format", "table", *data)[1].splitlines()
    assert header.split() == ["Time", "Action", "Actor", "Organization", "Details"]
    assert row.split()[:2] == [record["at"], "org.created"] and "acme" in row.split()
