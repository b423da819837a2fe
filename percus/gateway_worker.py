"""One of `percus serve`'s gateway workers: the app on the listening socket `percus serve` bound, in a
process of its own (percus/supervised.py), so that every core answers requests.

The kernel hands each connection to one worker. Each sends to the local queue as one of its senders
(pipeline/queue/local.py); what must hold across workers is kept in `percus serve`'s run directory.
Told to stop, a worker answers the requests it has begun, then exits; SIGTERM does the same, and
`percus serve` starts it again.
"""

from __future__ import annotations

import logging.config
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from percus import supervised
from pipeline.config import Settings

KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this (uvicorn's default)


@dataclass(frozen=True)
class Options:
    level: str  # of the log
    access_log: bool
    read_timeout: float
    write_timeout: float


def _main(stop_heard: int, listening: int) -> None:
    # Here: `percus serve` imports this module for Options, and serves nothing itself.
    import uvicorn

    from gateway.app import create_app
    from gateway.instruments import Metrics
    from gateway.shared.buckets import SharedBuckets
    from gateway.shared.recent_ids import SharedRecentIds
    from percus._slow_clients import protocol as slow_client_protocol
    from percus.logs import AccessLog
    from pipeline.backends import open_queue

    settings: Settings
    options: Options
    logging_config: dict[str, Any]
    run_dir: Path
    index: int
    salt: bytes  # of the shared rate-limit buckets: kept in memory only
    settings, options, logging_config, run_dir, index, salt = supervised.arguments()
    logging.config.dictConfig(logging_config)
    queue = open_queue(settings, receives=False, sole_sender=False)
    try:
        # Its counts continue those of the worker it replaces, if any: GET /metrics sums every slot.
        app = create_app(settings, queue, instruments=Metrics.shared(run_dir, f"worker-{index}"),
                         recent_ids=SharedRecentIds.attach(run_dir),
                         shared_buckets=SharedBuckets.attach(run_dir, salt))
        # uvicorn's access log stays off (it writes client addresses); ours is AccessLog. Slow clients
        # are cut off: see percus/_slow_clients.py and docs/operations.md ("Slow and idle clients").
        server = uvicorn.Server(uvicorn.Config(
            AccessLog(app) if options.access_log else app, access_log=False, log_config=None,
            log_level=options.level.lower(), loop="uvloop",
            http=slow_client_protocol(options.read_timeout, options.write_timeout),
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        ))

        def stop() -> None:
            server.should_exit = True

        supervised.on_stop(stop_heard, stop)
        server.run(sockets=[socket.socket(fileno=listening)])
    finally:
        queue.close()


if __name__ == "__main__":
    _main(int(sys.argv[1]), int(sys.argv[2]))
