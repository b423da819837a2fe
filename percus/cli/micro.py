"""`percus micro`: Percus Micro, the test harness for embed pages (docs/testing-your-embed.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from percus.cli import shared

if TYPE_CHECKING:
    from percus.cli.shared import Commands

HELP = "run Percus Micro: the ingest gateway in memory, to test embed pages against"


def add(commands: Commands) -> None:
    micro = commands.add_parser("micro", help=HELP, description=HELP)
    micro.set_defaults(handler=run)
    micro.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    micro.add_argument("--port", type=shared.port, default=9090, help="port to listen on (default: 9090)")
    micro.add_argument("--org", metavar="ORG", default="micro", help="the organization of the printed share "
                       "token (default: micro)")
    micro.add_argument("--project", default="micro", help="the project of the printed share token (default: "
                       "micro)")
    micro.add_argument("--data-dir", type=Path, metavar="DIR",
                       help="read organization settings (value policy, legacy group keys) from this data "
                            "directory; default: a temporary one, removed at exit")


def run(args: argparse.Namespace) -> int:
    from percus.micro import serve

    serve(host=args.host, port=args.port, organization=args.org, project=args.project, data_dir=args.data_dir)
    return 0
