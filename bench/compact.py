"""Raw NDJSON.gz -> curated Parquet: events/s of the compactor against a pyarrow-only baseline.

    python bench/compact.py [--events N] [--repeat K] [--quick] [--json FILE]
    python -m bench.compact ...

Generates synthetic raw objects in a temporary local store (sessions with a realistic mix of event
types, 2 organizations, 12 hours, writer batches of up to 1000 events, ~3 % duplicates of which
some cross an hour boundary), then times, in the same run and on the same files:
  compactor  pipeline.curated.compactor.compact on a fresh copy of the raw zone (checks, dedup, state);
  baseline   pyarrow only: pyarrow.json.read_json of each object, one snappy Parquet per hour,
             no checks, no dedup.
Each is run `--repeat` times (fresh copies); the best time counts. Aim: ratio >= 0.9 (issue 18).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import Report
from pipeline.curated.compactor import compact
from pipeline.layout import parse_raw_key, raw_key
from pipeline.raw import rawfile
from pipeline.store.local import LocalStore
from translator.canonical import format_timestamp

START = datetime(2026, 11, 25, 0, tzinfo=UTC)
HOURS = 12
ORGS = ("acme", "globex")
DUPLICATE_SHARE = 0.03
DEVICES = [("desktop", "Windows", "Chrome"), ("mobile", "iOS", "Mobile Safari"),
           ("mobile", "Android", "Chrome Mobile"), ("tablet", "iPadOS", "Mobile Safari"),
           ("desktop", "Mac OS X", "Safari")]
COUNTRIES = ["CL", "AR", "US", "ES", "MX", "BR", None]
LOCALES = ["es-CL", "es-AR", "en-US", "es-ES", "pt-BR", None]


def _session(rng: random.Random, org: str, received: datetime) -> list[dict]:
    """One viewing session, as the gateway stores it (every envelope field, nulls included)."""
    session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    device = rng.choice(DEVICES)
    duration = rng.choice([30_000, 45_000, 60_000, 90_000])
    base = {
        "schema_version": "1", "organization_id": org, "project_id": f"proj-{rng.randrange(20)}",
        "template_id": f"tpl-{rng.randrange(50)}", "template_version": str(rng.randrange(1, 4)),
        "distribution_channel_id": f"chan-{rng.randrange(5)}", "public_share_id": None,
        "viewer_hash": f"{rng.getrandbits(256):064x}", "session_id": session_id, "playback_id": 0,
        "locale": rng.choice(LOCALES),
        "device": {"type": device[0], "os": device[1], "browser": device[2], "is_bot": False},
        "geo": {"country": rng.choice(COUNTRIES)}, "referrer_host": "www.example.com",
        "consent": {"tracking": True, "granted_at": format_timestamp(received)},
    }
    steps: list[tuple[str, dict]] = [("session.started", {}), ("consent.accepted", {})]
    if rng.random() < 0.05:
        steps.append(("autoplay.failed", {"reason": "NotAllowedError"}))
    if rng.random() < 0.85:
        steps.append(("video.played", {"position_ms": 0}))
        steps.append(("chapter.entered", {"chapter_id": "intro", "chapter_name": "Intro", "position_ms": 0}))
        watched = rng.choice([25, 50, 75, 100, 100])
        for percent in (25, 50, 75):
            if percent <= watched:
                steps.append(("video.progressed", {"position_ms": duration * percent // 100,
                                                   "percent": percent}))
        if rng.random() < 0.3:
            steps.append(("video.paused", {"position_ms": duration // 3}))
            steps.append(("video.played", {"position_ms": duration // 3}))
        if rng.random() < 0.2:
            steps.append(("cta.clicked", {"cta_id": "buy", "cta_name": "Buy now", "cta_value": None,
                                          "position_ms": duration // 2}))
        if rng.random() < 0.1:
            steps.append(("interaction.engaged", {"interaction_id": "survey", "interaction_name": "NPS",
                                                  "interaction_value": str(rng.randrange(11)),
                                                  "position_ms": duration // 2}))
        steps.append(("chapter.exited", {"chapter_id": "intro", "position_ms": duration // 4}))
        if watched == 100:
            steps.append(("video.completed", {"duration_ms": duration, "percent": 100.0}))
        else:
            steps.append(("video.incomplete", {"duration_ms": duration, "percent": float(watched)}))
    elif rng.random() < 0.5:
        steps.append(("video.errored", {"error_code": "MEDIA_ERR_DECODE", "error_message": "decode failed"}))
    events = []
    for offset, (event_type, payload) in enumerate(steps):
        at = received + timedelta(seconds=offset * 7)
        events.append({
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            **base, "occurred_at": format_timestamp(at - timedelta(milliseconds=900)),
            "sent_at": format_timestamp(at - timedelta(milliseconds=400)),
            "received_at": format_timestamp(at), "event_type": event_type, "payload": payload,
        })
    return events


def generate(store: LocalStore, events: int, seed: int = 7) -> int:
    """Write about `events` raw events (duplicates included) as writer batches; returns the count."""
    rng = random.Random(seed)
    by_partition: dict[tuple[str, datetime], list[bytes]] = {}
    written = 0
    while written < events:
        org = rng.choice(ORGS)
        received = START + timedelta(seconds=rng.uniform(0, HOURS * 3600 - 120))
        for event in _session(rng, org, received):
            copies = [event]
            if rng.random() < DUPLICATE_SHARE:  # a client retry, sometimes an hour later
                later = datetime.fromisoformat(event["received_at"]) + timedelta(
                    seconds=rng.choice([2, 30, 3600]))
                copies.append({**event, "received_at": format_timestamp(min(later, START + timedelta(
                    hours=HOURS) - timedelta(seconds=1)))})
            for copy in copies:
                hour = datetime.fromisoformat(copy["received_at"]).replace(minute=0, second=0, microsecond=0)
                by_partition.setdefault((org, hour.replace(tzinfo=None)), []).append(
                    json.dumps(copy, separators=(",", ":")).encode())
                written += 1
    for (org, hour), lines in by_partition.items():
        for start in range(0, len(lines), 1000):
            batch = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            store.put(raw_key(org, hour, batch), rawfile.encode(lines[start:start + 1000]))
    return written


def run_compactor(raw: Path, work: Path) -> float:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(raw, work)
    store = LocalStore(work)
    started = time.perf_counter()
    compact(store)
    return time.perf_counter() - started


def run_baseline(raw: Path, work: Path) -> float:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    store = LocalStore(raw)
    started = time.perf_counter()
    partitions: dict[tuple[str, datetime], list[Path]] = {}
    for key in store.list("raw/"):
        org, hour, _ = parse_raw_key(key)  # type: ignore[misc]
        partitions.setdefault((org, hour), []).append(raw / key)
    for (org, hour), paths in partitions.items():
        table = pa.concat_tables([pj.read_json(str(path)) for path in paths], promote_options="default")
        pq.write_table(table, str(work / f"{org}-{hour:%Y%m%d%H}.parquet"), compression="snappy")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100,000 events, 2 runs each")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    events, repeat = (100_000, 2) if args.quick else (args.events, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw-store"
        generated = generate(LocalStore(raw), events)
        compactor_times, baseline_times = [], []
        for _ in range(repeat):  # alternate, so machine noise hits both alike
            baseline_times.append(run_baseline(raw, Path(tmp) / "baseline"))
            compactor_times.append(run_compactor(raw, Path(tmp) / "compactor"))
    compactor_rate, baseline_rate = generated / min(compactor_times), generated / min(baseline_times)
    report = Report("compact")
    report.add("pyarrow only", baseline_rate, "events/s", events=generated, seconds=min(baseline_times))
    report.add("compact", compactor_rate, "events/s", ratio=compactor_rate / baseline_rate,
               baseline="pyarrow only", events=generated, seconds=min(compactor_times))
    report.write_json(args.json)


if __name__ == "__main__":
    main()
