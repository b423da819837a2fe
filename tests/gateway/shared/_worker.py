"""A worker process for the tests: a gateway app over the run directory's shared state, as each worker
of `percus serve` builds it, driven by JSON commands, one a line on stdin, each answered on stdout.

    python -m tests.gateway.shared._worker RUN_DIR DATA_DIR SALT

SALT: the rate limits' salt, in hex, as the supervisor hands it to its workers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.shared.buckets import SharedBuckets
from gateway.shared.mapped_file import MappedFile
from gateway.shared.recent_ids import SharedRecentIds
from pipeline.config import load_settings
from pipeline.queue.local import LocalQueue
from tests.gateway._client import EVENTS, TOKEN_KEYS

# A fake clock for the recent ids' generations, set by the "now" command.
NOW = [1000.0]
HELD: list[MappedFile] = []  # files whose lock this process holds


def main(run_dir: Path, data_dir: Path, salt: bytes) -> None:
    settings = load_settings({"PERCUS_DATA_DIR": str(data_dir), "PERCUS_TOKEN_KEYS": TOKEN_KEYS})
    recent = SharedRecentIds.attach(run_dir, clock=lambda: NOW[0])
    queue = LocalQueue(data_dir / "queue")
    # The rate limits from the environment (PERCUS_RATE_LIMIT_*), as in `percus serve`.
    app = create_app(settings, queue, recent_ids=recent, shared_buckets=SharedBuckets.attach(run_dir, salt))
    with TestClient(app) as client:
        for line in sys.stdin:
            command, *args = json.loads(line)
            print(json.dumps(_run(command, args, client, recent, run_dir)), flush=True)


def _run(command: str, args: list[Any], client: TestClient, recent: SharedRecentIds, run_dir: Path) -> Any:
    if command == "post":  # [token, body]: the answer's status and JSON
        answer = client.post(EVENTS, json=args[1], headers={"Authorization": f"Bearer {args[0]}"})
        return [answer.status_code, answer.json()]
    if command == "now":
        NOW[0] = args[0]
        return None
    if command == "claim":  # [organization, [id, …]] with ids as hex: the ids already claimed
        return sorted(format(event_id, "032x")
                      for event_id in recent.claim(args[0], [int(event_id, 16) for event_id in args[1]]))
    if command == "forget":
        recent.forget(args[0], [int(event_id, 16) for event_id in args[1]])
        return None
    if command == "among":
        found = recent.among(args[0], [int(event_id, 16) for event_id in args[1]])
        return sorted(format(event_id, "032x") for event_id in found)
    if command == "len":
        return len(recent)
    if command == "clear":
        recent.clear()
        return None
    if command == "lock":  # [file name]: takes that file's lock and keeps it
        HELD.append(MappedFile(run_dir / args[0]))
        HELD[-1].lock()
        return "locked"
    raise ValueError(f"unknown command {command}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), bytes.fromhex(sys.argv[3]))
