"""`percus serve`: the gateway on every core with the writer process, on the embedded default."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from percus.cli import shared

if TYPE_CHECKING:
    from percus.cli.shared import Commands


def add(commands: Commands) -> None:
    serve = shared.command(commands, "serve", run, "run the gateway with the writer process on the "
                           "embedded default")
    serve.add_argument("--workers", type=_workers, default=None,
                       help="gateway processes answering requests (default: one per core)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on; 0.0.0.0 for every interface (default: 127.0.0.1)")
    serve.add_argument("--port", type=shared.port, default=8000, help="port to listen on (default: 8000)")
    shared.flag(serve, "--quiet", "print no banner and log only warnings and errors")
    shared.flag(serve, "--access-log", "log each request: method, path without its query string, status, "
                "duration; never the client's address or User-Agent")


def _workers(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(f"a number of workers is from 1 to 256, not {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    from percus.serve import AlreadyServing, PortUnavailable, serve

    settings = shared.settings(args)
    try:
        serve(settings, host=args.host, port=args.port, workers=args.workers, quiet=args.quiet,
              access_log=args.access_log)
    except (PortUnavailable, AlreadyServing) as error:
        print(f"percus: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C, once the shutdown it asked for is done: no traceback
        return 130
    return 0

