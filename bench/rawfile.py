"""The raw objects' compression: CPU to compress and to inflate, and bytes stored, per event, for what
`pipeline/raw/rawfile.py` writes (ISA-L gzip) against the standard library's zlib at levels 1, 3
(what it wrote before) and 6.

    python -m bench.rawfile [--quick] [--json FILE]

One object of 1000 stored events (~740 B each, 150 sessions, as a writer batch holds them); each
figure is the least process CPU time of several rounds, so a busy machine inflates it less.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import Report, cpu_seconds, least_cpu_us
from pipeline.raw import rawfile

EVENTS = 1000
TYPES = ("video.progressed", "video.played", "video.paused", "session.started", "cta.clicked")


def stored_events(count: int = EVENTS, sessions: int = 150) -> list[bytes]:
    """Lines in the gateway's stored form: server fields first, then the event's own."""
    rng = random.Random(1)
    viewers = [(str(uuid.UUID(int=rng.getrandbits(128))), f"{rng.getrandbits(256):064x}")
               for _ in range(sessions)]
    lines = []
    for index in range(count):
        session, viewer = rng.choice(viewers)
        lines.append(json.dumps({
            "received_at": f"2026-11-25T10:{index // 60 % 60:02d}:{index % 60:02d}.{index % 1000:03d}Z",
            "organization_id": "acme", "project_id": "spring-campaign", "public_share_id": None,
            "distribution_channel_id": None,
            "device": {"device_class": "desktop", "os": "Windows", "browser": "Chrome"},
            "geo": {"country": "CL"},
            "referrer_host": "mail.google.com", "viewer_hash": viewer,
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))), "schema_version": "1",
            "occurred_at": "2026-11-25T10:00:00.123Z", "sent_at": "2026-11-25T10:00:00.200Z",
            "template_id": "t-1", "template_version": None, "session_id": session, "playback_id": 1,
            "locale": "es-CL", "consent": {"tracking": True}, "event_type": rng.choice(TYPES),
            "payload": {"position_ms": rng.randrange(100_000), "percent": 25},
        }, separators=(",", ":")).encode())
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (about 2 s)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    rounds = 3 if args.quick else 10
    lines = stored_events()
    text = b"\n".join(lines) + b"\n"
    report = Report("rawfile")

    def per_event(work: Callable[[], object]) -> float:
        """CPU microseconds per event of one call of `work` on the object, 10 calls a round."""
        return least_cpu_us(rounds, lambda: cpu_seconds(work, 10), EVENTS)

    baselines = {}
    for level in (1, 3, 6):
        data = gzip.compress(text, compresslevel=level, mtime=0)
        compress = per_event(lambda level=level: gzip.compress(text, compresslevel=level, mtime=0))
        baselines[level] = (compress, len(data) / EVENTS)
        report.add(f"zlib level {level} compress", compress, "us CPU/event",
                   bytes_per_event=len(data) / EVENTS)
        print(f"  zlib level {level}: {len(data) / EVENTS:.1f} B/event stored", flush=True)
    zlib3_data = gzip.compress(text, compresslevel=3, mtime=0)
    zlib_inflate = per_event(lambda: zlib.decompress(zlib3_data, wbits=31))

    stored = rawfile.encode(lines)
    if rawfile.inflate(stored) != (text, None):
        raise SystemExit("rawfile: an object does not inflate to what was encoded")
    compress = per_event(lambda: rawfile.encode(lines))
    zlib3, zlib3_bytes = baselines[3]
    report.add(f"rawfile compress (ISA-L level {rawfile.LEVEL})", compress, "us CPU/event", compress / zlib3,
               "zlib level 3")
    report.add("rawfile bytes stored", len(stored) / EVENTS, "B/event", len(stored) / EVENTS / zlib3_bytes,
               "zlib level 3", text_bytes_per_event=len(text) / EVENTS)
    inflate = per_event(lambda: rawfile.inflate(stored))
    report.add("rawfile inflate", inflate, "us CPU/event", inflate / zlib_inflate, "zlib")
    report.write_json(args.json)


if __name__ == "__main__":
    main()
