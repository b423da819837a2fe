"""Shared benchmark plumbing: servers in subprocesses on loopback, wrk as the load generator,
and the one output format `name: value unit (ratio R vs baseline)` plus a JSON record."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s")


class ServerURL(str):
    """A running server's base URL, which also knows the server's process id (for its CPU use)."""

    pid: int

    def __new__(cls, base: str, pid: int) -> ServerURL:
        url = super().__new__(cls, base)
        url.pid = pid
        return url


@contextmanager
def server(argv: list[str], ready_path: str, port: int,
           env: dict[str, str] | None = None) -> Iterator[ServerURL]:
    proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = ServerURL(f"http://127.0.0.1:{port}", proc.pid)
    try:
        wait_ready(base + ready_path, proc)
        settle(proc.pid)  # what it does once ready (percus serve starts its writer process) is not load
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def bare_server(port: int, workers: int = 1) -> contextmanager:  # type: ignore[type-arg]
    return server([str(VENV_BIN / "uvicorn"), "bench._bare_app:app", "--port", str(port),
                   "--no-access-log", "--log-level", "warning", "--http", "httptools", "--loop", "uvloop",
                   *(["--workers", str(workers)] if workers > 1 else [])],
                  "/analytics/v1/events", port)


@contextmanager
def percus_server(port: int, workers: int | None = None) -> Iterator[tuple[ServerURL, str, str]]:
    """`percus serve` (with `workers` gateway workers, default its own) on a fresh data dir; yields
    (base URL, share token, data dir)."""
    with tempfile.TemporaryDirectory() as data_dir:
        env = {"PERCUS_DATA_DIR": data_dir}
        # `percus report …` refuses an organization the registry does not know.
        subprocess.run([str(VENV_BIN / "percus"), "org", "create", "bench"], env={**os.environ, **env},
                       check=True, capture_output=True)
        token = subprocess.run([str(VENV_BIN / "percus"), "token", "issue", "--org", "bench",
                                "--project", "p1"], env={**os.environ, **env}, check=True,
                               capture_output=True, text=True).stdout.strip()
        with server([str(VENV_BIN / "percus"), "serve", "--port", str(port), "--quiet",
                     *(["--workers", str(workers)] if workers else [])], "/readyz", port, env) as base:
            yield base, token, data_dir


@dataclass(frozen=True)
class Cpu:
    """CPU seconds (user + system) of a server: the main threads of the processes that answer requests
    (the event loops: the server itself, or its workers), in all, every process it started
    (`percus serve`'s writer) included, and by role (_role: the server process itself, which in
    `percus serve` runs the pipeline loop, its gateway workers, its writer)."""

    main: float
    total: float
    roles: dict[str, float] = field(default_factory=dict)

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.main - other.main, self.total - other.total,
                   {role: used - other.roles.get(role, 0.0) for role, used in self.roles.items()})


_TICK = os.sysconf("SC_CLK_TCK")


def _stat_cpu(path: Path) -> float:
    # utime and stime are fields 14 and 15; the command name before them may hold spaces.
    fields = path.read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, and theirs (by each process's parent in /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError):  # gone meanwhile
            continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def cpu(pid: int) -> Cpu:
    total = main = 0.0
    roles: dict[str, float] = {}
    children = descendants(pid)
    workers = [child for child in children if _is_worker(child, pid)]
    for process in [pid, *children]:
        try:
            used = _stat_cpu(Path(f"/proc/{process}/stat"))
            role = _role(process, pid)
            if process in (workers or [pid]):
                main += _stat_cpu(Path(f"/proc/{process}/task/{process}/stat"))
        except OSError:  # ended meanwhile
            continue
        total += used
        roles[role] = roles.get(role, 0.0) + used
    return Cpu(main=main, total=total, roles=roles)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0  # a zombie has none


WORKER = "gateway worker"


def _is_worker(pid: int, server_pid: int) -> bool:
    try:
        return _role(pid, server_pid) == WORKER
    except OSError:  # ended meanwhile
        return False


def _role(pid: int, server_pid: int) -> str:
    """What a server's process is, from its command line."""
    if pid == server_pid:
        return "server"
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    if b"percus.gateway_worker" in command or b"spawn_main" in command:  # uvicorn --workers spawns
        return WORKER
    return "writer" if b"percus.writer_process" in command else "other"  # uvicorn's resource tracker


class Resident:
    """The peak resident memory of each of a server's processes, by role (the largest of a role's
    processes), sampled every `every` seconds while in the `with` block (once when the block is
    empty: the idle figure)."""

    def __init__(self, server_pid: int, every: float = 0.1) -> None:
        self.server_pid, self.every = server_pid, every
        self.peak: dict[str, int] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Resident:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            for pid in [self.server_pid, *descendants(self.server_pid)]:
                try:
                    role, size = _role(pid, self.server_pid), _rss(pid)
                except OSError:  # ended meanwhile
                    continue
                self.peak[role] = max(self.peak.get(role, 0), size)
            if self._done.wait(self.every):
                return


def settle(pid: int, quiet_share: float = 0.05, window: float = 0.5, timeout: float = 120,
           caught_up: Callable[[], bool] | None = None) -> float:
    """Seconds until the server is idle (under quiet_share of a core for a window) and, if given,
    `caught_up()`: a server that answers faster than it stores leaves a backlog whose CPU belongs to
    the requests just sent, and a pipeline that compacts in bursts (percus serve's) is idle between
    them with events still waiting."""
    started = time.monotonic()
    last = cpu(pid).total
    while time.monotonic() - started < timeout:
        time.sleep(window)
        now = cpu(pid).total
        if now - last < quiet_share * window and (caught_up is None or caught_up()):
            break
        last = now
    return time.monotonic() - started


def pipeline_caught_up(base: str) -> Callable[[], bool]:
    """Whether `percus serve` at `base` has written and compacted every event it took (GET /metrics:
    no queue backlog, no compaction lag)."""
    def caught_up() -> bool:
        text = httpx.get(base + "/metrics", timeout=10).text
        values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                  if line.startswith(("percus_queue_backlog_bytes", "percus_compaction_lag_seconds"))}
        return values.get("percus_queue_backlog_bytes", 0.0) == 0 and \
            values.get("percus_compaction_lag_seconds", 0.0) == 0
    return caught_up


@dataclass
class WrkResult:
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    p999_ms: float  # from the script's done(): wrk --latency prints no 99.9th percentile
    errors: int
    server_cpu: Cpu | None = None  # during the load
    server_cpu_settled: Cpu | None = None  # during the load and until the server was idle again
    settle_s: float = 0.0  # how long the server stayed busy after the load (a writer's backlog)
    client_cpu_s: float = 0.0

    def cpu_us(self, settled: bool = True, events: int = 1) -> dict[str, float]:
        """Server CPU microseconds per request (or per event): main threads, in all, and by role."""
        used = self.server_cpu_settled if settled else self.server_cpu
        if used is None or not self.requests:
            return {}
        per = 1e6 / (self.requests * events)
        return {"main": round(used.main * per, 1), "total": round(used.total * per, 1),
                **{role: round(seconds * per, 1) for role, seconds in sorted(used.roles.items())}}


def least_cpu_us(rounds: int, measure: Callable[[], float], per: int = 1) -> float:
    """The least of `rounds` figures of `measure` (process CPU seconds of the work it timed, see
    `cpu_seconds`), in microseconds per `per` items: other processes on a busy machine only ever add
    to a figure, so the least is the one they inflate least."""
    return min(measure() for _ in range(rounds)) * 1e6 / per


def cpu_seconds(work: Callable[[], object], repeat: int = 1) -> float:
    """Process CPU seconds of one call of `work`, the mean of `repeat` calls in a row."""
    started = time.process_time()
    for _ in range(repeat):
        work()
    return (time.process_time() - started) / repeat


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, lua: str, seconds: float, connections: int = 32,
        server_pid: int | None = None, caught_up: Callable[[], bool] | None = None) -> WrkResult:
    """wrk with one thread; with server_pid, also the server's CPU during the load and until it settles
    (and is `caught_up`, if given)."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: `apt-get install -y wrk` (make bench does it)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(lua)
        script.flush()
        before = cpu(server_pid) if server_pid else None
        client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
                              script.name, url], check=True, capture_output=True, text=True).stdout
        client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        during = settled = None
        settle_s = 0.0
        if server_pid and before:
            during = cpu(server_pid) - before
            settle_s = settle(server_pid, caught_up=caught_up)
            settled = cpu(server_pid) - before
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return WrkResult(
        requests=int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(re.search(r"\s50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        p99_ms=_ms(re.search(r"\s99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        p999_ms=int(re.search(r"p999_us (\d+)", out).group(1)) / 1000,  # type: ignore[union-attr]
        errors=errors,
        server_cpu=during,
        server_cpu_settled=settled,
        settle_s=settle_s,
        client_cpu_s=(client_after.ru_utime + client_after.ru_stime)
        - (client_before.ru_utime + client_before.ru_stime),
    )


@dataclass
class Report:
    name: str
    figures: list[dict[str, object]] = field(default_factory=list)

    def add(self, name: str, value: float, unit: str, ratio: float | None = None,
            baseline: str | None = None, **extra: object) -> None:
        self.figures.append({"name": name, "value": value, "unit": unit, "ratio": ratio,
                             "baseline": baseline, **extra})
        suffix = f" (ratio {ratio:.2f} vs {baseline})" if ratio is not None else ""
        if "goal" in extra:  # the target for this figure, e.g. "≤100 ms"
            suffix += f", goal {extra['goal']}"
        shown = f"{value:.0f}" if value >= 100 else f"{value:.3g}"
        print(f"{name}: {shown} {unit}{suffix}", flush=True)

    def write_json(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"benchmark": self.name, "figures": self.figures}, indent=2))
