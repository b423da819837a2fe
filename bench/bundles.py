"""Browser bundle sizes: bytes downloaded (minified, gzipped as /sdk/ serves them) against each
bundle's byte budget, and against the same source gzipped without minification.

    python -m bench.bundles [--json FILE]

The bundles are built fresh from js/src and translator's tables, so the figures are the code's, not
whatever js/dist holds.
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

from bench._harness import Report
from js.build import BUNDLES, BYTE_BUDGETS, build_bundles, gzipped_size, render, version_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="accepted for make bench-quick; the same work")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    report = Report("bundles")
    bundles = build_bundles()
    versions = {name: version_of(content) for name, content in bundles.items()}
    for name in BUNDLES:
        size, budget = gzipped_size(bundles[name]), BYTE_BUDGETS[name]
        unminified = len(gzip.compress(render(name, versions).encode(), 9, mtime=0))
        report.add(f"bundle {name}", size, "bytes gzipped", size / budget, f"budget {budget} B",
                   minified=len(bundles[name]), unminified_gzipped=unminified)
    report.write_json(args.json)


if __name__ == "__main__":
    main()
