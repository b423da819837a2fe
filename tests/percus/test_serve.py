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
from pathlib import Path

import httpx
import pytest

from pipeline.raw.rawfile import decode
from pipeline.store.local import LocalStore
from tests.conftest import free_port
from tests.reliability._serve import serving

pytestmark = pytest.mark.slow
PERCUS = [sys.executable, "-m", "percus"]


def event(session: str, event_type: str = "video.played", **payload: object) -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), "schema_version": "1", "event_type": event_type,
            "occurred_at": "2026-11-25T10:00:00.000Z", "session_id": session,
            "consent": {"tracking": True}, "payload": payload or {"position_ms": 0}}


def token(data_dir: Path) -> str:
    env = {**os.environ, "PERCUS_DATA_DIR": str(data_dir)}
    return subprocess.run([*PERCUS, "token", "issue", "--org", "acme", "--project", "p1"], env=env,
                          check=True, capture_output=True, text=True).stdout.strip()


def raw_event_ids(data_dir: Path) -> list[str]:
    store = LocalStore(data_dir / "bucket")
    return [e["event_id"] for key in store.list("raw/") for e in decode(store.get(key))]


def test_banner_names_the_urls_and_a_working_demo_token(tmp_path: Path) -> None:
    with serving(tmp_path, quiet=False) as server:
        cores = len(os.sched_getaffinity(0))
        deadline = time.monotonic() + 30
        while len(server.children(b"percus.gateway_worker")) != cores:  # one gateway worker per core
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        server.stop(timeout=30)
    out, base = server.output(), server.base
    assert f"{cores} gateway worker{'s' if cores > 1 else ''})" in out
    assert f"{base}/analytics/v1/events" in out
    assert f"{base}/demo" in out and f"{base}/dashboard" in out
    demo_token = next(line.strip() for line in out.splitlines() if line.strip().startswith("pt1."))
    demo_key = next(line.strip() for line in out.splitlines() if line.strip().startswith("pk_"))
    with serving(tmp_path, quiet=False) as server:  # its output goes on in the same log
        base = server.base
        answer = httpx.post(f"{base}/analytics/v1/events?token={demo_token}",
                            json=event(str(uuid.uuid4()), "session.started"))
        assert answer.status_code == 202, answer.text
        summary = httpx.get(f"{base}/analytics/v1/reports/summary",
                            headers={"Authorization": f"Bearer {demo_key}"})
        assert summary.status_code == 200, summary.text
        server.stop(timeout=30)
    assert demo_key in server.output()[len(out):]  # the same key on every start


def test_sigterm_flushes_accepted_events_to_raw_objects(tmp_path: Path) -> None:
    share = token(tmp_path)
    session = str(uuid.uuid4())
    sent = [event(session, position_ms=i) for i in range(50)]
    with serving(tmp_path, quiet=False) as server:
        answer = httpx.post(f"{server.base}/analytics/v1/events", json={"events": sent},
                            headers={"Authorization": f"Bearer {share}"})
        assert answer.json()["accepted"] == 50
        server.stop(timeout=30)
    assert sorted(raw_event_ids(tmp_path)) == sorted(e["event_id"] for e in sent)


def test_ctrl_c_stops_the_gateway_then_the_writer_which_flushes_first(tmp_path: Path) -> None:
    share = token(tmp_path)
    session = str(uuid.uuid4())
    sent = [event(session, position_ms=i) for i in range(50)]
    with serving(tmp_path, quiet=False) as server:
        deadline = time.monotonic() + 60
        while not (tmp_path / "queue" / "lock").read_text().strip():  # the writer process is up
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        writer = int((tmp_path / "queue" / "lock").read_text())
        answer = httpx.post(f"{server.base}/analytics/v1/events", json={"events": sent},
                            headers={"Authorization": f"Bearer {share}"})
        assert answer.json()["accepted"] == 50
        os.killpg(server.proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches every process of the group
        assert server.proc.wait(timeout=60) == 130, server.output()  # the shell's code for Ctrl-C
    assert sorted(raw_event_ids(tmp_path)) == sorted(e["event_id"] for e in sent)
    assert not Path(f"/proc/{writer}").exists()  # no writer left behind
    assert "Traceback" not in server.output()


def test_events_answered_202_survive_kill_9_and_land_after_restart(tmp_path: Path) -> None:
    share = token(tmp_path)
    session = str(uuid.uuid4())
    acknowledged: list[str] = []
    with serving(tmp_path, quiet=False) as server, httpx.Client(base_url=server.base) as client:
        for i in range(200):
            sent = event(session, position_ms=i)
            if client.post(f"/analytics/v1/events?token={share}", json=sent).status_code == 202:
                acknowledged.append(sent["event_id"])  # type: ignore[arg-type]
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=30)
    assert len(acknowledged) == 200
    with serving(tmp_path, quiet=False):
        deadline = time.monotonic() + 30
        while set(acknowledged) - set(raw_event_ids(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert set(acknowledged) <= set(raw_event_ids(tmp_path))


def test_a_data_dir_others_could_read_is_made_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "made-before"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)  # as an earlier version, or the operator, left it
    with serving(data_dir, quiet=False):
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
    with serving(tmp_path, options=["--access-log"], PERCUS_LOG_FORMAT="json") as server:
        base = server.base
        answer = httpx.post(f"{base}/analytics/v1/events?token={share}", json=event(str(uuid.uuid4())),
                            headers={"User-Agent": "Mozilla/5.0 (Secret Phone 9)"})
        assert answer.status_code == 202
        server.stop(timeout=30)
    out = server.output()
    lines = [json.loads(line) for line in out.splitlines()]  # every line is JSON: uvicorn's too
    requests = [line for line in lines if line["logger"] == "percus.access"]
    posted = next(line for line in requests if line["method"] == "POST")
    assert (posted["path"], posted["status"]) == ("/analytics/v1/events", 202)
    assert posted["duration_ms"] >= 0 and posted["message"].startswith("POST /analytics/v1/events 202 ")
    assert share not in out and "Secret Phone" not in out and "127.0.0.1:" not in out.replace(base, "")


def test_text_logs_put_uvicorn_lines_in_the_same_format(tmp_path: Path) -> None:
    with serving(tmp_path, quiet=False) as server:
        server.stop(timeout=30)
    out = server.output()
    started = next(line for line in out.splitlines() if "Application startup complete" in line)
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(rf"{stamp} INFO uvicorn\.error: Application startup complete\.", started), started


def test_a_bad_log_format_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run([*PERCUS, "serve", "--port", str(free_port())], capture_output=True, text=True,
                          env={**os.environ, "PERCUS_DATA_DIR": str(tmp_path), "PERCUS_LOG_FORMAT": "xml"},
                          timeout=60)
    assert done.returncode != 0 and "PERCUS_LOG_FORMAT must be one of text, json, got 'xml'" in done.stderr
