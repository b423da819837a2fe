"""`percus micro` as a user runs it, and the pytest plugin's `percus_micro` fixture."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from percus.testing import MicroClient
from tests.conftest import free_port
from tests.gateway._events import event


@pytest.mark.slow
def test_percus_micro_prints_a_token_it_accepts() -> None:
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "percus", "micro", "--port", str(port), "--org", "shop"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        # The banner is printed once it listens.
        banner = []
        for line in iter(proc.stdout.readline, ""):
            banner.append(line)
            if "share token" in line:
                break
        token = banner[-1].split()[-1]
        print(f"percus micro ready in {time.monotonic() - started:.2f} s (process start included)")
        base = f"http://127.0.0.1:{port}"
        answer = httpx.post(f"{base}/analytics/v1/events", json=event("session.started"),
                            headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 202 and answer.json()["accepted"] == 1
        [stored] = httpx.get(f"{base}/micro/good").json()["events"]
        assert (stored["organization_id"], stored["project_id"]) == ("shop", "micro")
        assert httpx.get(f"{base}/micro/token").json()["token"] == token
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        proc.stdout.close()
    settings = Path(banner[0].rsplit("settings: ", 1)[1].rstrip(")\n"))
    assert settings.name.startswith("percus-micro-") and not settings.exists()  # removed at exit


def test_the_fixture_serves_a_reset_micro(percus_micro: MicroClient) -> None:
    assert percus_micro.good() == [] and percus_micro.bad() == []
    headers = {"Authorization": f"Bearer {percus_micro.token}"}
    clicked = event("cta.clicked")
    for body in (event("session.started"), clicked, {"event_type": "nope"}):
        httpx.post(f"{percus_micro.url}/analytics/v1/events", json=body, headers=headers)
    assert [e["event_id"] for e in percus_micro.wait_for("cta.clicked", cta_name="Contact me")] == [
        clicked["event_id"]]
    assert [e["event_type"] for e in percus_micro.good(session_id=clicked["session_id"])] == ["cta.clicked"]
    assert [bad["error"]["code"] for bad in percus_micro.bad()] == ["missing_schema_version"]
    with pytest.raises(AssertionError, match=r"1 of 2 cta\.clicked events"):
        percus_micro.wait_for("cta.clicked", count=2, timeout=0.05)


def test_each_test_starts_from_a_reset_micro(percus_micro: MicroClient) -> None:
    assert percus_micro.good() == []  # the previous test's events are gone


def test_host_page_serves_a_snippet_in_a_page_of_another_origin(percus_micro: MicroClient) -> None:
    url = percus_micro.host_page('<div id="embed"></div>', name="offer.html")
    assert url == percus_micro.url.replace("127.0.0.1", "localhost") + "/micro/pages/offer.html"
    page = httpx.get(percus_micro.url + "/micro/pages/offer.html")
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.startswith("<!doctype html>") and '<div id="embed"></div>' in page.text
    whole = "<!DOCTYPE html><title>Mine</title><p>as written"
    assert httpx.get(percus_micro.host_page(whole).replace("localhost", "127.0.0.1")).text == whole
    percus_micro.reset()
    gone = httpx.get(percus_micro.url + "/micro/pages/offer.html")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "page_not_found")


@pytest.mark.parametrize(("name", "size", "status", "code"), [
    ("a b.html", 10, 400, "invalid_parameter"), (".hidden", 10, 400, "invalid_parameter"),
    ("a" * 65, 10, 400, "invalid_parameter"), ("big.html", 256 * 1024 + 1, 413, "page_too_large")])
def test_a_bad_host_page_is_refused_clearly(percus_micro: MicroClient, name: str, size: int, status: int,
                                            code: str) -> None:
    answer = httpx.put(f"{percus_micro.url}/micro/pages/{name}", content=b"x" * size)
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
