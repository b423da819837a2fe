"""The gateway's CPU per event of a 100-event batch, in process: the ingest route's decision (`_decide`:
validate, check times, consent gate, value policy, serialize the stored form) without HTTP or queue, and
its parts, against decoding the same body with `json.loads` in the same run.

The body's events come in their stored form, as the SDK writes them, so `_decide` takes its fast path
(translator/stored_form.py); the models' way, which a batch in any other form takes, is measured too.

    python -m bench.batch_cpu [--quick] [--json FILE]

Bodies are bench/ingest.py's (the same event, fresh event ids in every body); the recent ids are the
ones `percus serve`'s workers share. Each figure is the least process CPU time of several rounds, so a
busy machine inflates it less.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import Report, cpu_seconds, least_cpu_us
from gateway import ingest, ingest_decision
from gateway.assemble import services_for
from gateway.shared.recent_ids import SharedRecentIds
from gateway.tokens import issue_token
from pipeline.config import load_settings
from pipeline.queue.local import LocalQueue

EVENTS = 100  # per body
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
VIEWER = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def event(session: str) -> str:
    """bench/ingest.py's event: video.progressed, a fresh id."""
    return (f'{{"event_id":"{uuid.uuid4()}","schema_version":"1","event_type":"video.progressed",'
            '"occurred_at":"2026-11-25T10:00:00.123Z","sent_at":"2026-11-25T10:00:00.200Z",'
            f'"session_id":"{session}","template_id":"t-1","locale":"es-CL","viewer_hash":"{VIEWER}",'
            '"consent":{"tracking":true},"payload":{"position_ms":15000,"percent":25}}')


def body(session: str) -> bytes:
    """bench/ingest.py's batch body: 100 events of one session."""
    return f'{{"events":[{",".join(event(session) for _ in range(EVENTS))}]}}'.encode()


def other_form(session: str) -> bytes:
    """The same batch with its times written with an offset (+00:00): not their stored form."""
    return body(session).replace(b'Z"', b'+00:00"')


def _least_us(rounds: int, bodies: list[list[bytes]], prepare: Callable[[bytes], object],
              work: Callable[[object], object], per_body: int = EVENTS) -> float:
    """Least process CPU microseconds per event of `work` over `rounds`, each on its own bodies,
    prepared (outside the time) by `prepare`."""
    batches = iter(bodies[:rounds])

    def measure() -> float:
        inputs = [prepare(item) for item in next(batches)]

        def run() -> None:
            for item in inputs:
                work(item)

        return cpu_seconds(run)

    return least_cpu_us(min(rounds, len(bodies)), measure, per=len(bodies[0]) * per_body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 bodies a round, 3 rounds (about 5 s)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    per_round, rounds = (100, 3) if args.quick else (300, 5)

    with tempfile.TemporaryDirectory(prefix="percus-bench-batch-") as tmp:
        settings = load_settings({"PERCUS_DATA_DIR": tmp, "PERCUS_TOKEN_KEYS": "k1:bench-secret"})
        SharedRecentIds.create(Path(tmp))
        with LocalQueue(Path(tmp) / "queue") as queue:
            services = services_for(settings, queue, recent_ids=SharedRecentIds.attach(Path(tmp)))
            route = ingest.Ingest(services)
            ingest.warm_up()
            share = services.tokens.verify(issue_token(settings.token_keys, "acme", "spring-campaign"))
            received, received_json = ingest_decision.received_at()
            server_fields = ingest_decision.server_members(share, {b"user-agent": USER_AGENT})
            stamp = ingest_decision.Stamp(received, received_json + server_fields, "store")
            session = str(uuid.uuid4())
            # Fresh bodies for every figure's every round: no id is ever seen twice as recent.
            figures = ("json.loads", "decide", "stored form", "validation", "loop")
            bodies = {name: [[body(session) for _ in range(per_round)] for _ in range(rounds)]
                      for name in figures}
            bodies["other form"] = [[other_form(session) for _ in range(per_round)] for _ in range(rounds)]

            def same(item: bytes) -> bytes:
                return item

            baseline = _least_us(rounds, bodies["json.loads"], same, json.loads)
            decide = _least_us(rounds, bodies["decide"], same,
                               lambda item: route._decider.decide(item, "acme", stamp))  # type: ignore[arg-type]
            stored_form = _least_us(rounds, bodies["stored form"], same,
                                    ingest_decision._stored_batch().validate_json)  # type: ignore[arg-type]
            validation = _least_us(rounds, bodies["validation"], same, ingest_decision._batch())  # type: ignore[arg-type]
            loop = _least_us(rounds, bodies["loop"], lambda item: ingest_decision._batch()(item).events,
                             lambda events: route._decider._batch(events, "acme", stamp))
            other = _least_us(rounds, bodies["other form"], same,
                              lambda item: route._decider.decide(item, "acme", stamp))  # type: ignore[arg-type]
            # The same event alone, a request each: as many as the batches hold.
            singles = {name: [[event(session).encode() for _ in range(per_round * EVENTS)]
                              for _ in range(rounds)] for name in ("json.loads", "decide", "models")}
            single_baseline = _least_us(rounds, singles["json.loads"], same, json.loads, 1)
            single = _least_us(rounds, singles["decide"], same,
                               lambda item: route._decider.decide(item, "acme", stamp), 1)  # type: ignore[arg-type]
            single_models = _least_us(rounds, singles["models"], same, lambda item: route._decider._single(
                ingest_decision._event()(item), "acme", stamp), 1)  # type: ignore[arg-type]
    report = Report("batch_cpu")
    report.add("json.loads of a batch(100) body", baseline, "us/event")
    report.add("batch(100) decision (_decide)", decide, "us/event", decide / baseline, "json.loads")
    report.add("  validation into stored-form dicts", stored_form, "us/event", stored_form / baseline,
               "json.loads")
    rest = decide - stored_form
    report.add("  the rest: times, consent, policy, dedup, one serialization", rest, "us/event",
               rest / baseline, "json.loads")
    models = validation + loop
    report.add("batch(100) the models' way (events in another form)", models, "us/event", models / baseline,
               "json.loads")
    report.add("  validation into the models", validation, "us/event", validation / baseline, "json.loads")
    report.add("  per-event loop (times, consent, policy, stored form)", loop, "us/event", loop / baseline,
               "json.loads")
    report.add("batch(100) decision (_decide) on events in another form (times at +00:00)", other, "us/event",
               other / baseline, "json.loads")
    report.add("json.loads of one event's body", single_baseline, "us/event")
    report.add("single event decision (_decide)", single, "us/event", single / single_baseline, "json.loads")
    report.add("single event the models' way (an event in another form)", single_models, "us/event",
               single_models / single_baseline, "json.loads")
    report.write_json(args.json)


if __name__ == "__main__":
    main()
