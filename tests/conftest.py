"""Fixtures shared across the suite: a moto server on a free loopback port for the AWS paths."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real moto server over HTTP (not an in-process mock), its SQS queues made as atomic as SQS's
    (tests/_moto_server.py); yields its endpoint URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests._moto_server", "-H", "127.0.0.1", "-p", str(port)], cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/moto-api/", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """boto3's standard variables pointed at moto server, with its state reset after the test."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # A gateway over S3 generates no viewer-id key: it is configured, as Secrets Manager does on AWS.
    monkeypatch.setenv("PERCUS_VIEWER_KEYS", "aws:viewer-key-for-tests")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    yield moto_server
    httpx.post(f"{moto_server}/moto-api/reset", timeout=10)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty embedded-default data dir, set as PERCUS_DATA_DIR for the test."""
    path = tmp_path / "percus-data"
    monkeypatch.setenv("PERCUS_DATA_DIR", str(path))
    for name in ("PERCUS_QUEUE", "PERCUS_STORE", "PERCUS_QUERY_ENGINE", "PERCUS_TOKEN_KEYS"):
        monkeypatch.delenv(name, raising=False)
    return path


