"""`percus serve`: the gateway and (on a local store) the background pipeline in one process, the raw
writer in another it supervises (percus/writer_process.py), on one data dir."""

from __future__ import annotations

import asyncio
import errno
import logging
import logging.config
import os
import socket
import threading
from collections.abc import Mapping

import uvicorn

from gateway.app import create_app
from gateway.demo import DEMO_ORG, DEMO_PROJECT
from gateway.instruments import Metrics
from gateway.tokens import issue_token, parse_ttl
from percus._slow_clients import READ_TIMEOUT, WRITE_TIMEOUT
from percus._slow_clients import protocol as slow_client_protocol
from percus.background import PipelineLoop
from percus.logs import AccessLog, log_config, log_format
from percus.writer_process import WriterProcess
from pipeline import files
from pipeline.backends import open_mailer, open_queue, open_store
from pipeline.config import Settings
from pipeline.governance.registry import OrganizationRegistry

log = logging.getLogger("percus.serve")

KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this (uvicorn's default)
WRITER_WAIT = 1.0  # a batch closes 1 s after its first event: freshness at low traffic (bench/freshness.py)


class PortUnavailable(Exception):
    """The address could not be listened on (in use, or not this machine's)."""

    def __init__(self, host: str, port: int, error: OSError) -> None:
        in_use = error.errno == errno.EADDRINUSE
        reason = "is in use" if in_use else f"cannot be listened on ({error.strerror})"
        super().__init__(f"{host}:{port} {reason}: choose another with --port (or --host)")


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else happens, so that a port in use is the first
    and only thing reported (uvicorn would say so after the banner, which reads like success)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds it
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise PortUnavailable(host, port, error) from None
    return sock


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A timeout from the environment: PERCUS_READ_TIMEOUT (seconds a request may take to arrive
    whole) or PERCUS_WRITE_TIMEOUT (seconds an answer may wait without a byte reaching the client)."""
    text = env.get(name)
    value = default if text is None else float(text)
    if not value > 0:
        raise ValueError(f"{name} must be a number of seconds above 0, got {text!r}")
    return value


def _demo_api_key(settings: Settings, registry: OrganizationRegistry) -> str:
    """The demo organization's reporting key, made on first run and kept beside the token keys so
    every start prints the same working key (only the embedded default's data dir holds it)."""
    path = settings.data_dir / "secrets" / "demo_api_key"
    if path.exists() and registry.organization_for_api_key(path.read_text().strip()) == DEMO_ORG:
        return path.read_text().strip()
    if registry.get(DEMO_ORG) is None:
        registry.create(DEMO_ORG)
    key = registry.create_api_key(DEMO_ORG)
    files.make_dirs(path.parent)
    files.write(path, f"{key}\n".encode())
    return key


def _banner(settings: Settings, base: str, registry: OrganizationRegistry) -> str:
    token = issue_token(settings.token_keys, organization_id=DEMO_ORG, project_id=DEMO_PROJECT,
                        ttl=parse_ttl("30d"))
    return "\n".join([
        f"Percus analytics on {base}  (data: {settings.data_dir}, queue: {settings.queue}, "
        f"store: {settings.store})",
        f"  demo page   {base}/demo",
        f"  dashboard   {base}/dashboard",
        f"  ingest      POST {base}/analytics/v1/events",
        f"  API docs    {base}/analytics/v1/openapi.json",
        f"  health      {base}/healthz  {base}/readyz",
        f"  metrics     {base}/metrics  (Prometheus)",
        f"  demo share token (org {DEMO_ORG!r}, project {DEMO_PROJECT!r}, 30 days):",
        f"    {token}",
        f"  demo reporting API key (org {DEMO_ORG!r}; also signs in to the dashboard):",
        f"    {_demo_api_key(settings, registry)}",
        "Ctrl-C stops it; queued events are flushed to the store first.",
    ])


class _Server(uvicorn.Server):
    """Stops the writer process and the background threads as part of the graceful shutdown, once the
    last request is answered: uvicorn re-raises SIGTERM or SIGINT once `run()` returns, which would end
    the process before a `finally` could flush."""

    def __init__(self, config: uvicorn.Config, stop: threading.Event,
                 threads: list[threading.Thread], writer: WriterProcess) -> None:
        super().__init__(config)
        self._stop = stop
        self._threads = threads
        self._writer = writer

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        self._stop.set()
        await asyncio.to_thread(self._writer.stop)  # it writes what is queued first
        for thread in self._threads:
            await asyncio.to_thread(thread.join)


def serve(settings: Settings, *, host: str, port: int, quiet: bool = False, access_log: bool = False) -> None:
    level = "WARNING" if quiet else "INFO"
    logging_config = log_config(log_format(os.environ), level)  # the writer process's too
    logging.config.dictConfig(logging_config)
    sock = _listen(host, port)
    # What it makes there is 0700 or 0600 (pipeline/files.py); a data dir an older version made, or
    # the operator, was 0755: everything beneath goes private with it.
    files.make_dirs(settings.data_dir)
    settings.data_dir.chmod(files.DIR_MODE)
    store = open_store(settings)
    OrganizationRegistry(store).hash_legacy_group_keys()  # those an earlier version stored in plaintext
    queue = open_queue(settings, receives=False)  # the writer process receives
    stop = threading.Event()
    threads = []
    loop = None
    metrics = Metrics()  # GET /metrics (docs/operations.md)
    if settings.store.startswith("file://"):
        # On S3 the scheduled Lambdas compact: the compactor assumes a single writer there.
        loop = PipelineLoop(store, mailer=open_mailer(settings),  # with the weekly digest (PERCUS_MAIL)
                            freshness=metrics.observe_freshness)
        metrics.watch_compaction(loop.compaction_lag)
        threads.append(threading.Thread(target=loop.run, args=(stop,),
                                        name="percus-pipeline", daemon=True))
    # What the writer lands is compacted right away (within the loop's duty cycle), not at the next tick.
    writer = WriterProcess(settings, max_wait=WRITER_WAIT, logging_config=logging_config,
                           on_written=loop.nudge if loop is not None else None)
    # uvicorn's access log stays off (it writes client addresses); ours is AccessLog. Logging is set
    # up above (log_config=None). Slow clients are cut off: see percus/_slow_clients.py and
    # docs/operations.md ("Slow and idle clients").
    app = create_app(settings, queue, instruments=metrics)
    server = _Server(uvicorn.Config(
        AccessLog(app) if access_log else app, host=host, port=port, access_log=False, log_config=None,
        log_level=level.lower(), loop="uvloop",
        http=slow_client_protocol(_seconds(os.environ, "PERCUS_READ_TIMEOUT", READ_TIMEOUT),
                                  _seconds(os.environ, "PERCUS_WRITE_TIMEOUT", WRITE_TIMEOUT)),
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    ), stop, threads, writer)
    if not quiet:
        print(_banner(settings, f"http://{host}:{port}", OrganizationRegistry(store)), flush=True)
    writer.start()
    for thread in threads:
        thread.start()
    try:
        server.run(sockets=[sock])
    finally:
        stop.set()  # also when startup failed (port taken): the writer must not outlive the server
        writer.stop()
        for thread in threads:
            thread.join()
        queue.close()
