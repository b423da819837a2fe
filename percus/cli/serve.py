"""`percus serve`: the gateway with the writer process, on the embedded default."""

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
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on; 0.0.0.0 for every interface (default: 127.0.0.1)")
    serve.add_argument("--port", type=shared.port, default=8000, help="port to listen on (default: 8000)")
    shared.flag(serve, "--quiet", "print no banner and log only warnings and errors")
    shared.flag(serve, "--access-log", "log each request: method, path without its query string, status, "
                "duration; never the client's address or User-Agent")


def run(args: argparse.Namespace) -> int:
    from percus.serve import PortUnavailable, serve
    from pipeline.queue.local import QueueLocked

    settings = shared.settings(args)
    try:
        serve(settings, host=args.host, port=args.port, quiet=args.quiet, access_log=args.access_log)
    except PortUnavailable as error:
        print(f"percus: error: {error}", file=sys.stderr)
        return 1
    except QueueLocked:  # the local queue's lock: one process at a time writes it
        print(f"percus: error: another percus serve uses {settings.data_dir / 'queue'}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C, once the shutdown it asked for is done: no traceback
        return 130
    return 0

