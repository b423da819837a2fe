"""docs/command-line.md: every command with its usage and options, rendered from the parser by
`percus docs`, so the reference cannot drift from the code."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

HEAD = """# Command-line reference

Generated from the parser by `percus docs` (percus/cli/reference.py): edit the options' help, not this
file. What the commands are for, with examples: [operations](operations.md#command-line).

The conventions, checked for every command by `tests/percus/test_cli_conventions.py`:

- An organization is `--org ORG`. `percus org create|set|show|key|digest|webhook ORG` and
  `percus digest ORG` also take it as their first word, a shortcut; giving both is an error.
- A yes/no option is a pair, `--x` and `--no-x`; its help says which is the default.
- Every option says its default.
- A command that lists or reports takes `--format table|json`: a table with human headers and units
  (`Avg. furthest point  100.0 %`) or JSON with the raw values under unchanged keys. `percus audit
  list` prints JSON lines unless told `--format table`, since scripts read it.
- Long work (compaction, rollups, DSAR, retention, exports, imports) shows its progress on stderr: a
  bar on a terminal, otherwise a plain line every 10 % of the work or every 5 seconds, and at the end.
"""


def commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """(words, parser, help) of every command, groups walked in the order `--help` lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if any(isinstance(inner, argparse._SubParsersAction) for inner in sub._actions):
                    yield from commands(sub, (*words, name))
                else:
                    yield (*words, name), sub, helps.get(name, "")


def document(parser: argparse.ArgumentParser) -> str:
    parts = [HEAD]
    for words, sub, help_text in commands(parser):
        formatter = argparse.HelpFormatter(f"percus {' '.join(words)}", width=10_000)
        formatter.add_usage(sub.usage, sub._actions, sub._mutually_exclusive_groups, prefix="")
        usage = formatter.format_help().strip()
        rows = [f"| `{formatter._format_action_invocation(action)}` | "
                f"{_cell(formatter._expand_help(action))} |"
                for action in sub._actions if not isinstance(action, argparse._HelpAction)]
        parts.append(f"\n## `percus {' '.join(words)}`\n\n{help_text[:1].upper()}{help_text[1:]}.\n\n"
                     f"```\n{usage}\n```\n" + ("\n| option | |\n|---|---|\n" + "\n".join(rows) + "\n"
                                              if rows else ""))
    return "".join(parts)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
