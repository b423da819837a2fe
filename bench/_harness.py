"""Shared benchmark plumbing: servers in subprocesses on loopback, wrk as the load generator,
and the one output format `name: value unit (ratio R vs baseline)` plus a JSON record."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


@contextmanager
def server(argv: list[str], ready_path: str, port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base + ready_path, proc)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def bare_server(port: int) -> contextmanager:  # type: ignore[type-arg]
    return server([str(VENV_BIN / "uvicorn"), "bench._bare_app:app", "--port", str(port),
                   "--no-access-log", "--log-level", "warning", "--http", "httptools", "--loop", "uvloop"],
                  "/analytics/v1/events", port)


@contextmanager
def percus_server(port: int) -> Iterator[tuple[str, str]]:
    """`percus serve` on a fresh data dir; yields (base URL, share token)."""
    with tempfile.TemporaryDirectory() as data_dir:
        env = {"PERCUS_DATA_DIR": data_dir}
        token = subprocess.run([str(VENV_BIN / "percus"), "token", "issue", "--org", "bench",
                                "--project", "p1"], env={**os.environ, **env}, check=True,
                               capture_output=True, text=True).stdout.strip()
        with server([str(VENV_BIN / "percus"), "serve", "--port", str(port), "--quiet"],
                    "/readyz", port, env) as base:
            yield base, token


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, lua: str, seconds: float, connections: int = 32) -> WrkResult:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: `apt-get install -y wrk` (make bench does it)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(lua)
        script.flush()
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
                              script.name, url], check=True, capture_output=True, text=True).stdout
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return WrkResult(
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(re.search(r"\s50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        p99_ms=_ms(re.search(r"\s99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        errors=errors,
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
        shown = f"{value:.0f}" if value >= 100 else f"{value:.3g}"
        print(f"{name}: {shown} {unit}{suffix}", flush=True)

    def write_json(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"benchmark": self.name, "figures": self.figures}, indent=2))
