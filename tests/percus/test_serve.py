"""`percus serve` as a user runs it: a real process on a loopback port, stopped politely or killed."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from pipeline.raw.rawfile import decode
from pipeline.store.local import LocalStore
from tests.conftest import free_port

pytestmark = pytest.mark.slow
PERCUS = [sys.executable, "-m", "percus"]


def event(session: str, event_type: str = "video.played", **payload: object) -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), "schema_version": "1", "event_type": event_type,
            "occurred_at": "2026-11-25T10:00:00.000Z", "session_id": session,
            "consent": {"tracking": True}, "payload": payload or {"position_ms": 0}}


@contextmanager
def serving(data_dir: Path, *options: str, **env: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    proc = subprocess.Popen([*PERCUS, "serve", "--port", str(port), *options], text=True,
                            env={**os.environ, "PERCUS_DATA_DIR": str(data_dir), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else "server exited"
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server not ready in 30 s"
            time.sleep(0.1)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()


def token(data_dir: Path) -> str:
    env = {**os.environ, "PERCUS_DATA_DIR": str(data_dir)}
    return subprocess.run([*PERCUS, "token", "issue", "--org", "acme", "--project", "p1"], env=env,
                          check=True, capture_output=True, text=True).stdout.strip()


def raw_event_ids(data_dir: Path) -> list[str]:
    store = LocalStore(data_dir / "bucket")
    return [e["event_id"] for key in store.list("raw/") for e in decode(store.get(key))]


def test_banner_names_the_urls_and_a_working_demo_token(tmp_path: Path) -> None:
    with serving(tmp_path) as (proc, base):
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert f"{base}/analytics/v1/events" in out
    assert f"{base}/demo" in out and f"{base}/dashboard" in out
    demo_token = next(line.strip() for line in out.splitlines() if line.strip().startswith("pt1."))
    demo_key = next(line.strip() for line in out.splitlines() if line.strip().startswith("pk_"))
    with serving(tmp_path) as (proc, base):
        answer = httpx.post(f"{base}/analytics/v1/events?token={demo_token}",
                            json=event(str(uuid.uuid4()), "session.started"))
        assert answer.status_code == 202, answer.text
        summary = httpx.get(f"{base}/analytics/v1/reports/summary",
                            headers={"Authorization": f"Bearer {demo_key}"})
        assert summary.status_code == 200, summary.text
        proc.send_signal(signal.SIGTERM)
        again, _ = proc.communicate(timeout=30)
    assert demo_key in again  # the same key on every start


def test_sigterm_flushes_accepted_events_to_raw_objects(tmp_path: Path) -> None:
    share = token(tmp_path)
    session = str(uuid.uuid4())
    sent = [event(session, position_ms=i) for i in range(50)]
    with serving(tmp_path) as (proc, base):
        answer = httpx.post(f"{base}/analytics/v1/events", json={"events": sent},
                            headers={"Authorization": f"Bearer {share}"})
        assert answer.json()["accepted"] == 50
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)  # uvicorn re-raises SIGTERM after its graceful shutdown
    assert sorted(raw_event_ids(tmp_path)) == sorted(e["event_id"] for e in sent)


def test_events_answered_202_survive_kill_9_and_land_after_restart(tmp_path: Path) -> None:
    share = token(tmp_path)
    session = str(uuid.uuid4())
    acknowledged: list[str] = []
    with serving(tmp_path) as (proc, base), httpx.Client(base_url=base) as client:
        for i in range(200):
            sent = event(session, position_ms=i)
            if client.post(f"/analytics/v1/events?token={share}", json=sent).status_code == 202:
                acknowledged.append(sent["event_id"])  # type: ignore[arg-type]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert len(acknowledged) == 200
    with serving(tmp_path) as (proc, _):
        deadline = time.monotonic() + 30
        while set(acknowledged) - set(raw_event_ids(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert set(acknowledged) <= set(raw_event_ids(tmp_path))


def test_a_data_dir_others_could_read_is_made_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "made-before"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)  # as an earlier version, or the operator, left it
    with serving(data_dir):
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_a_port_in_use_is_reported_first_with_the_hint(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*PERCUS, "serve", "--port", str(port)], capture_output=True, text=True,
                              env={**os.environ, "PERCUS_DATA_DIR": str(tmp_path)}, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""  # no banner that reads like success
    assert done.stderr.strip() == (f"percus: error: 127.0.0.1:{port} is in use: "
                                   "choose another with --port (or --host)")


def test_json_logs_and_an_access_log_without_address_query_or_user_agent(tmp_path: Path) -> None:
    share = token(tmp_path)
    with serving(tmp_path, "--access-log", "--quiet", PERCUS_LOG_FORMAT="json") as (proc, base):
        answer = httpx.post(f"{base}/analytics/v1/events?token={share}", json=event(str(uuid.uuid4())),
                            headers={"User-Agent": "Mozilla/5.0 (Secret Phone 9)"})
        assert answer.status_code == 202
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in out.splitlines()]  # every line is JSON: uvicorn's too
    requests = [line for line in lines if line["logger"] == "percus.access"]
    posted = next(line for line in requests if line["method"] == "POST")
    assert (posted["path"], posted["status"]) == ("/analytics/v1/events", 202)
    assert posted["duration_ms"] >= 0 and posted["message"].startswith("POST /analytics/v1/events 202 ")
    assert share not in out and "Secret Phone" not in out and "127.0.0.1:" not in out.replace(base, "")


def test_text_logs_put_uvicorn_lines_in_the_same_format(tmp_path: Path) -> None:
    with serving(tmp_path) as (proc, _):
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    started = next(line for line in out.splitlines() if "Application startup complete" in line)
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(rf"{stamp} INFO uvicorn\.error: Application startup complete\.", started), started


def test_a_bad_log_format_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run([*PERCUS, "serve", "--port", str(free_port())], capture_output=True, text=True,
                          env={**os.environ, "PERCUS_DATA_DIR": str(tmp_path), "PERCUS_LOG_FORMAT": "xml"},
                          timeout=60)
    assert done.returncode != 0 and "PERCUS_LOG_FORMAT must be one of text, json, got 'xml'" in done.stderr
