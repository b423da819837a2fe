"""What the command modules share: declaring a command, the settings, store and registry a run
works on, who runs it, and the output helpers."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.backends import open_store
from pipeline.config import Settings, load_settings
from pipeline.reporting import formatting

if TYPE_CHECKING:
    from pipeline.governance.registry import OrganizationRegistry
    from pipeline.store.base import Store

    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

Handler = Callable[[argparse.Namespace], int]


def command(parent: Commands, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    """A command that runs `handler`, with the --data-dir option every command takes."""
    sub = parent.add_parser(name, help=help_text, description=help_text)
    sub.set_defaults(handler=handler)
    sub.add_argument("--data-dir", type=Path, metavar="DIR", help="data directory (default: $PERCUS_DATA_DIR "
                     "or ./percus-data)")
    return sub


def org_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, required: bool = True,
               shortcut: bool = False) -> None:
    """`--org ORG`, the one way a command takes an organization. `shortcut`: `ORG` as the first
    positional works too (`percus org create acme`); `resolve_org` checks the two."""
    parser.add_argument("--org", metavar="ORG", required=required and not shortcut,
                        help="organization id" if required else "only this organization's (default: all)")
    if shortcut:
        parser.add_argument("org_shortcut", nargs="?", metavar="ORG", help="the same as --org ORG")
        parser.set_defaults(org_required=required)


def resolve_org(args: argparse.Namespace) -> None:
    """`args.org` from `--org ORG` or the positional shortcut: both, or neither when one is
    required, is an error."""
    if "org_shortcut" not in args:
        return
    if args.org_shortcut is not None and args.org is not None:
        raise ValueError(f"give the organization once: {args.org_shortcut} or --org {args.org}, not both")
    args.org = args.org if args.org is not None else args.org_shortcut
    if args.org is None and args.org_required:
        raise ValueError("the organization is required: --org ORG")


def flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup, name: str, help_text: str, *,
         default: bool = False, **options: Any) -> None:
    """A boolean as `--x/--no-x`, its default said in its help (in words, not Python's False)."""
    action = parser.add_argument(name, action=argparse.BooleanOptionalAction, default=default, **options)
    # Python 3.11 appends "(default: False)" by itself.
    said = f"(default: {'on' if default else 'off'})"
    action.help = help_text if "default" in help_text else f"{help_text} {said}"


def format_option(parser: argparse.ArgumentParser, *, default: str = "table",
                  json_text: str = "JSON") -> None:
    """`--format table|json` of a command that lists or reports: table for people, JSON (raw values,
    the keys unchanged) for scripts."""
    others = {"table": "an aligned table with human headers and units", "json": json_text}
    other = "json" if default == "table" else "table"
    parser.add_argument("--format", choices=("table", "json"), default=default,
                        help=f"{default} (the default: {others[default]}) or {other} ({others[other]})")


def group(parent: Commands, name: str, help_text: str) -> Commands:
    """A command group (`percus org …`), to add its commands to."""
    return parent.add_parser(name, help=help_text).add_subparsers(dest="sub", required=True)


def settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "data_dir", None):
        os.environ["PERCUS_DATA_DIR"] = str(args.data_dir)
    return load_settings()


def store(args: argparse.Namespace) -> Store:
    """The store of the run's settings, for a command that needs nothing else of them."""
    return open_store(settings(args))


def registry(settings: Settings) -> OrganizationRegistry:
    from pipeline.governance.registry import OrganizationRegistry

    registry = OrganizationRegistry(open_store(settings), cache_seconds=0, actor=actor())
    # The functions on AWS may not write the registry: the command line rewrites what an earlier
    # version stored in plaintext (one read per organization), as `percus serve` does at start.
    registry.hash_legacy_group_keys()
    return registry


def actor() -> str:
    """Who runs the command, for the audit log."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in some containers
        return "cli"


def warn_unregistered(settings: Settings, org: str, consequence: str) -> None:
    """A warning, not a refusal: a mistyped organization is caught, while the gateway accepts any
    signed organization, so its events stay tokenable and deletable."""
    if registry(settings).get(org) is None:
        print(f"percus: warning: organization {org!r} is not registered ({consequence}); "
              f"`percus org create {org}` registers it", file=sys.stderr)


def since(text: str | None) -> datetime | None:
    """A --since option."""
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        raise ValueError(f"--since takes YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC), not {text!r}") from None


def print_json(value: object, *, indent: int | None = None, sort_keys: bool = False) -> None:
    """JSON with text as written (names in any script), not as \\u escapes."""
    print(json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=False))


def print_table(rows: list[dict[str, Any]], columns: Sequence[str], *,
                headers: Mapping[str, str] | None = None) -> None:
    """Rows as an aligned table: each column under its human header and each value in its unit
    (pipeline/reporting/formatting.py; `headers` overrides a header); numbers to the right. No
    rows: "(none)"."""
    if not rows:
        print("(none)")
        return
    titles = [(headers or {}).get(key) or formatting.label(key) for key in columns]
    lines = [titles, *([formatting.cell(key, row.get(key)) for key in columns] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    right = [any(_number(row.get(key)) for row in rows)
             and all(_number(row.get(key)) for row in rows if row.get(key) is not None) for key in columns]
    for line in lines:
        print("  ".join(text.rjust(width) if numeric else text.ljust(width)
                        for text, width, numeric in zip(line, widths, right, strict=True)).rstrip())


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def print_values(values: Mapping[str, Any]) -> None:
    """Headline numbers, one a line: header, then the value in its unit."""
    width = max((len(formatting.label(key)) for key in values), default=0)
    for key, value in values.items():
        print(f"{formatting.label(key):<{width}}  {formatting.cell(key, value)}".rstrip())


def port(text: str) -> int:
    """A --port value."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, not {text!r}")
    return int(text)
