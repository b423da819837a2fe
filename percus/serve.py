"""`percus serve`: the gateway on every core, the raw writer and (on a local store) the background
pipeline, on one data dir.

This process binds the listening socket, prints the banner, runs the pipeline loop and supervises the
others (percus/supervised.py): `--workers` gateway workers answering on that socket
(percus/gateway_worker.py) and the writer process (percus/writer_process.py). Stopping (Ctrl-C or
SIGTERM), it tells the workers to answer what they have begun and exit, then the pipeline loop to stop
(what the writer lands last is compacted at the next start), then the writer to write what is queued.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import logging.config
import os
import shutil
import signal
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from gateway.demo import DEMO_ORG, DEMO_PROJECT
from gateway.instruments import Metrics
from gateway.shared.buckets import SharedBuckets
from gateway.shared.recent_ids import SharedRecentIds
from gateway.tokens import issue_token, parse_ttl
from percus._slow_clients import READ_TIMEOUT, WRITE_TIMEOUT
from percus.background import PipelineLoop
from percus.gateway_worker import Options
from percus.logs import log_config, log_format
from percus.supervised import Supervised
from percus.writer_process import WriterProcess
from pipeline import files
from pipeline.backends import open_mailer, open_store
from pipeline.config import Settings
from pipeline.governance.registry import OrganizationRegistry

log = logging.getLogger("percus.serve")

BACKLOG = 2048  # connections the kernel holds for the workers to accept (uvicorn's default)

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


def _banner(settings: Settings, base: str, registry: OrganizationRegistry, workers: int) -> str:
    token = issue_token(settings.token_keys, organization_id=DEMO_ORG, project_id=DEMO_PROJECT,
                        ttl=parse_ttl("30d"))
    return "\n".join([
        f"Percus analytics on {base}  (data: {settings.data_dir}, queue: {settings.queue}, "
        f"store: {settings.store}, {workers} gateway worker{'s' if workers > 1 else ''})",
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


class AlreadyServing(Exception):
    """Another `percus serve` runs on the data dir."""


def default_workers() -> int:
    """One gateway worker per core this process may run on."""
    return len(os.sched_getaffinity(0))


@contextmanager
def _only_serve(data_dir: Path) -> Iterator[None]:
    """Held while serving: one `percus serve` at a time on a data dir (its workers share the queue as
    senders, so the queue's own locks no longer tell)."""
    path = data_dir / "serve.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, files.FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyServing(f"another percus serve uses {data_dir / 'queue'}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _run_dir(data_dir: Path) -> Path:
    """What the processes of this `percus serve` share while it runs (GET /metrics's counts, …);
    nothing in it outlives it."""
    path = data_dir / "run"
    shutil.rmtree(path, ignore_errors=True)
    files.make_dirs(path)
    return path


def _until_stopped() -> None:
    """Wait for SIGTERM (then return) or SIGINT (then raise KeyboardInterrupt, as Python does)."""
    stopped = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(1.0):  # a timeout: the wait then returns to let SIGINT raise
            pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve(settings: Settings, *, host: str, port: int, workers: int | None = None, quiet: bool = False,
          access_log: bool = False) -> None:
    level = "WARNING" if quiet else "INFO"
    logging_config = log_config(log_format(os.environ), level)  # every process's
    logging.config.dictConfig(logging_config)
    options = Options(level, access_log, _seconds(os.environ, "PERCUS_READ_TIMEOUT", READ_TIMEOUT),
                      _seconds(os.environ, "PERCUS_WRITE_TIMEOUT", WRITE_TIMEOUT))
    sock = _listen(host, port)
    # What it makes there is 0700 or 0600 (pipeline/files.py); a data dir an older version made, or
    # the operator, was 0755: everything beneath goes private with it.
    files.make_dirs(settings.data_dir)
    settings.data_dir.chmod(files.DIR_MODE)
    with sock, _only_serve(settings.data_dir):
        sock.listen(BACKLOG)  # connections wait there while the workers start
        run_dir = _run_dir(settings.data_dir)
        # What every worker must see alike (gateway/shared/): a resent event is a duplicate, and a client
        # has its rate limit once, whichever worker answers. The buckets' salt is never on disk.
        SharedRecentIds.create(run_dir)
        salt = SharedBuckets.create(run_dir)
        store = open_store(settings)
        OrganizationRegistry(store).hash_legacy_group_keys()  # those an earlier version stored in plaintext
        stop = threading.Event()
        threads = []
        loop = None
        if settings.store.startswith("file://"):
            # On S3 the scheduled Lambdas compact: the compactor assumes a single writer there.
            metrics = Metrics.shared(run_dir, "pipeline")  # GET /metrics (docs/operations.md)
            loop = PipelineLoop(store, mailer=open_mailer(settings),  # with the weekly digest (PERCUS_MAIL)
                                freshness=metrics.observe_freshness, waiting=metrics.compaction_waiting)
            threads.append(threading.Thread(target=loop.run, args=(stop,), name="percus-pipeline",
                                            daemon=True))
        # What the writer lands is compacted right away (within the loop's duty cycle), not at the next tick.
        writer = WriterProcess(settings, max_wait=WRITER_WAIT, logging_config=logging_config,
                               on_written=loop.nudge if loop is not None else None)
        gateways = [Supervised("percus.gateway_worker", f"gateway worker {k}",
                               (settings, options, logging_config, run_dir, k, salt),
                               pass_fds=(sock.fileno(),))
                    for k in range(workers or default_workers())]
        if not quiet:
            print(_banner(settings, f"http://{host}:{port}", OrganizationRegistry(store), len(gateways)),
                  flush=True)
        writer.start()
        for thread in threads:
            thread.start()
        for gateway in gateways:
            gateway.start()
        try:
            _until_stopped()
        finally:
            for gateway in gateways:  # all at once: each answers what it has begun
                gateway.tell_stop()
            for gateway in gateways:
                gateway.wait()
            stop.set()  # before the writer's last batches: they are compacted at the next start
            writer.stop()  # it writes what is queued first
            for thread in threads:
                thread.join()
