"""`percus docs`, `percus build-js`: regenerate the files generated from the code (no data dir)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from percus.cli import shared

if TYPE_CHECKING:
    from percus.cli.shared import Commands


def add(commands: Commands) -> None:
    docs = commands.add_parser("docs", help="regenerate the documents generated from the code "
                               "(JSON Schema, Individeo tables)", description="regenerate the documents "
                               "generated from the code")
    docs.set_defaults(handler=run_docs)
    shared.flag(docs, "--check", "only report stale documents (exit 1)")
    build_js = commands.add_parser("build-js", help="regenerate the browser bundles (js/dist) from js/src "
                                   "and translator's tables", description="regenerate the browser bundles")
    build_js.set_defaults(handler=run_build_js)
    shared.flag(build_js, "--check", "only report stale bundles (exit 1)")


def run_docs(args: argparse.Namespace) -> int:
    from percus.generated_docs import stale_documents, write_documents

    if args.check:
        stale = stale_documents()
        for path in stale:
            print(f"stale: {path}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_documents():
        print(f"wrote {path}")
    return 0


def run_build_js(args: argparse.Namespace) -> int:
    from js.build import run

    return run(check=args.check)
