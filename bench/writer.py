"""The raw writer's CPU per event: `Writer` (pipeline/raw/writer.py) draining a local queue filled with
the gateway's stored events into a local store, as `percus serve`'s writer process does.

    python -m bench.writer [--quick] [--json FILE]

The queue is filled by a sending side and drained by a receiving side (two objects, as the gateway's
and the writer process's are), in batches of 1000 events. Baselines in the same run, the parts of
the writer's work done by code it calls: the queue alone (receive and delete the same events, nothing
written), the compression alone (`rawfile.encode` of the same lines), the routing parser alone (the
pydantic-core call that checks each body is JSON and reads its organization, received_at and event id)
and the store alone (`LocalStore.put` of the same objects). What is left is the writer's own Python.
Each figure is the least process CPU time of several rounds, so a busy machine inflates it less.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import Report, cpu_seconds, least_cpu_us
from bench.rawfile import stored_events
from pipeline.layout import raw_key
from pipeline.queue.local import LocalQueue
from pipeline.raw import rawfile
from pipeline.raw.writer import MAX_EVENTS, ROUTING_PARSER, Writer
from pipeline.store.local import LocalStore

SEND = 100  # bodies per send: a gateway's batch request


def _filled(directory: Path, bodies: list[bytes]) -> LocalQueue:
    """The receiving side of a queue in `directory` holding `bodies`."""
    with LocalQueue(directory, receives=False) as sender:
        for start in range(0, len(bodies), SEND):
            sender.send(bodies[start : start + SEND])
    return LocalQueue(directory, sends=False)


def _fresh(run: Callable[[Path], tuple[int, float]], events: int) -> Callable[[], float]:
    """A measure for `least_cpu_us`: `run` in a fresh directory, which returns how many events it handled
    (all of them, or the bench stops) and the CPU seconds of the part it measured."""
    def measure() -> float:
        with tempfile.TemporaryDirectory(prefix="percus-bench-writer-") as tmp:
            done, cpu = run(Path(tmp))
        if done != events:
            raise SystemExit(f"writer bench: {done} of {events} events handled")
        return cpu
    return measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 events, 3 rounds (about 5 s)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    events, rounds = (20_000, 3) if args.quick else (100_000, 5)
    bodies = stored_events(events, sessions=max(150, events // 7))
    batches = [bodies[start : start + MAX_EVENTS] for start in range(0, events, MAX_EVENTS)]

    def writer(tmp: Path) -> tuple[int, float]:
        queue = _filled(tmp / "queue", bodies)
        stop = threading.Event()
        stop.set()  # run() then writes what is queued and returns
        try:
            started = time.process_time()
            totals = Writer(queue, LocalStore(tmp / "store")).run(stop)
            return totals.events_written, time.process_time() - started
        finally:
            queue.close()

    def queue_alone(tmp: Path) -> tuple[int, float]:
        queue = _filled(tmp / "queue", bodies)
        done = 0
        try:
            started = time.process_time()
            while messages := queue.receive(MAX_EVENTS, 0):
                queue.delete([message.receipt for message in messages])
                done += len(messages)
            return done, time.process_time() - started
        finally:
            queue.close()

    def compression_alone() -> None:
        for batch in batches:
            rawfile.encode(batch)

    def parser_alone() -> None:
        for batch in batches:
            deque(map(ROUTING_PARSER.validate_json, batch), maxlen=0)  # each result dropped at once

    objects = [(raw_key("acme", datetime(2026, 11, 25, 10, tzinfo=UTC), str(uuid.UUID(int=number))),
                rawfile.encode(batch)) for number, batch in enumerate(batches)]

    def store_alone(tmp: Path) -> tuple[int, float]:
        store = LocalStore(tmp / "store")
        started = time.process_time()
        for key, data in objects:
            store.put(key, data)
        return events, time.process_time() - started

    report = Report("writer")
    total = least_cpu_us(rounds, _fresh(writer, events), events)
    queue = least_cpu_us(rounds, _fresh(queue_alone, events), events)
    gzip = least_cpu_us(rounds, lambda: cpu_seconds(compression_alone), events)
    parse = least_cpu_us(rounds, lambda: cpu_seconds(parser_alone), events)
    put = least_cpu_us(rounds, _fresh(store_alone, events), events)
    own = total - queue - gzip - parse - put
    report.add("writer CPU", total, "us/event", events=events)
    report.add("queue alone (receive, delete)", queue, "us/event", queue / total, "writer CPU")
    report.add(f"compression alone (ISA-L level {rawfile.LEVEL})", gzip, "us/event", gzip / total,
               "writer CPU")
    report.add("routing parser alone (pydantic-core: syntax, 3 fields)", parse, "us/event", parse / total,
               "writer CPU")
    report.add("store alone (LocalStore.put of the same objects)", put, "us/event", put / total, "writer CPU")
    report.add("the rest: routing and grouping in Python", own, "us/event", own / total, "writer CPU")
    report.write_json(args.json)


if __name__ == "__main__":
    main()
