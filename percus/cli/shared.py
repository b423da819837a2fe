"""What the command modules share: declaring a command, the settings, store and registry a run
works on, who runs it, and the output helpers."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.backends import open_store
from pipeline.config import Settings, load_settings

if TYPE_CHECKING:
    from pipeline.governance.registry import OrganizationRegistry
    from pipeline.store.base import Store

    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

Handler = Callable[[argparse.Namespace], int]


def command(parent: Commands, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    """A command that runs `handler`, with the --data-dir option every command takes."""
    sub = parent.add_parser(name, help=help_text, description=help_text)
    sub.set_defaults(handler=handler)
    sub.add_argument("--data-dir", type=Path, help="data directory (default: $PERCUS_DATA_DIR "
                     "or ./percus-data)")
    return sub


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


def progress(label: str) -> Callable[..., None]:
    """A one-line counter on stderr for long runs (only when stderr is a terminal)."""
    def show(done: int, total: int, *_: object) -> None:
        if sys.stderr.isatty():
            end = "\n" if done == total else "\r"
            print(f"{label}: {done}/{total}", end=end, file=sys.stderr, flush=True)
    return show


def print_json(value: object, *, indent: int | None = None, sort_keys: bool = False) -> None:
    """JSON with text as written (names in any script), not as \\u escapes."""
    print(json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=False))


def print_table(rows: list[dict[str, Any]], headers: dict[str, str]) -> None:
    """Rows as an aligned table under human headers (`headers`: key → header, in column order);
    numbers to the right, booleans as yes/no, nothing as -. No rows: "(none)"."""
    if not rows:
        print("(none)")
        return

    def cell(value: object) -> str:
        return "-" if value is None else ("yes" if value else "no") if isinstance(value, bool) else str(value)

    lines = [list(headers.values()), *([cell(row[key]) for key in headers] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    right = [all(isinstance(row[key], int | float) and not isinstance(row[key], bool) for row in rows
                 if row[key] is not None) for key in headers]
    for line in lines:
        print("  ".join(text.rjust(width) if numeric else text.ljust(width)
                        for text, width, numeric in zip(line, widths, right, strict=True)).rstrip())


def port(text: str) -> int:
    """A --port value."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, not {text!r}")
    return int(text)
