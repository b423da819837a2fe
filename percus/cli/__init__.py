"""`percus …`: the command line (docs/operations.md). Each command loads settings from the environment.

One module per command group declares its commands, their options beside their handlers. Building
the parser imports every module, so a handler imports what only it needs (DuckDB, WeasyPrint, boto3…)
when it runs rather than on every command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from percus.cli import (
    admin,
    audit,
    digest,
    dsar,
    export,
    generated,
    legacy,
    micro,
    migrate,
    org,
    outcomes,
    platform,
    report,
    retention,
    serve,
    shared,
    stages,
    token,
    viewer_hash,
    webhook,
)

# In the order `percus --help` lists them.
_MODULES = (serve, micro, token, stages, report, outcomes, org, webhook, admin, digest, export, legacy,
            migrate, dsar, viewer_hash, retention, audit, platform, generated)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="percus", description="Percus analytics: video-engagement "
                                     "analytics for personalized video.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _MODULES:
        module.add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        shared.resolve_org(args)
        sys.exit(args.handler(args))
    except ValueError as exc:  # bad input from the command line: say it, no traceback
        print(f"percus: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:  # a file or directory the command cannot use (--out, the data dir)
        where = f": {exc.filename}" if exc.filename else ""
        print(f"percus: error: {exc.strerror or exc}{where}", file=sys.stderr)
        sys.exit(1)
