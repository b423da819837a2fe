"""Issue 18's goals against the figures of the last benchmark run: one line per goal, from the JSON
records the benchmarks wrote (`make bench` runs this last).

    python -m bench.goals [--results DIR]

A goal whose figure is missing (a benchmark not run, or run before it printed that figure) says so
rather than passing.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

Figure = Mapping[str, Any]


@dataclass(frozen=True)
class Goal:
    title: str
    benchmark: str  # the JSON record's name: bench/results/<benchmark>.json
    figure: str  # a figure's name, or the start of it (names that carry a count: "p95 of 20")
    read: Callable[[Figure], float | None]
    unit: str
    at_most: bool  # the figure must stay at or under the limit (else at or over it)
    limit: float

    def wants(self) -> str:
        return f"{'≤' if self.at_most else '≥'} {self.limit:,g}{self.unit}"

    def met(self, value: float) -> bool:
        return value <= self.limit if self.at_most else value >= self.limit


def value(figure: Figure) -> float | None:
    return figure.get("value")


def ratio(figure: Figure) -> float | None:
    return figure.get("ratio")


def cpu_until_idle(figure: Figure) -> float | None:
    return (figure.get("server_cpu_us_until_idle") or {}).get("total")


GOALS = (
    Goal("single-event ingest", "ingest", "ingest single", ratio, "× bare", False, 0.7),
    Goal("single-event p99", "ingest", "ingest single p99", ratio, "× bare's p99", True, 3),
    Goal("batch(100) ingest", "ingest", "ingest batch(100)", value, " events/s", False, 100_000),
    Goal("server CPU per batched event, until idle", "ingest", "ingest batch(100)", cpu_until_idle,
         " µs", True, 10),
    Goal("compaction", "compact", "compact", ratio, "× pyarrow", False, 0.9),
    Goal("ingest Lambda cold import", "coldstart", "ingest Lambda cold import", value, " ms", True, 150),
    Goal("summary from rollups (make bench: 10 M events, 30 days)", "query", "summary from rollups", value,
         " ms", True, 100),
    Goal("freshness POST → summary, p95", "freshness", "freshness POST to summary, p95", value, " s",
         True, 5),
    Goal("percus-embed-sdk.js gzipped", "bundles", "bundle percus-embed-sdk.js", value, " B", True, 3072),
)


def figures(results: Path, benchmark: str) -> list[Figure]:
    path = results / f"{benchmark}.json"
    return json.loads(path.read_text())["figures"] if path.exists() else []


def lines(results: Path) -> list[str]:
    out = []
    for goal in GOALS:
        named = figures(results, goal.benchmark)
        found = ([f for f in named if f["name"] == goal.figure]
                 or [f for f in named if str(f["name"]).startswith(goal.figure)])
        measured = goal.read(found[0]) if found else None
        if measured is None:
            verdict, shown = "NOT MEASURED", f"(no {goal.figure!r} in {goal.benchmark}.json)"
        else:
            verdict = "met" if goal.met(measured) else "NOT MET"
            shown = f"{measured:.3g}{goal.unit}" if measured < 100 else f"{measured:,.0f}{goal.unit}"
        out.append(f"goal {goal.title}: {shown}, goal {goal.wants()}: {verdict}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the benchmarks wrote JSON")
    args = parser.parse_args(argv)
    print("\n".join(lines(args.results)))


if __name__ == "__main__":
    main()
