"""The transport's retry policy, to the millisecond: the built bootstrap in Chromium under a fake clock.

The gateway here is Playwright's request routing, answering each POST with the next scripted
status, so every branch (400, 429 + Retry-After, 5xx, unreachable) is exercised exactly; the page
wraps `fetch` only to count calls synchronously and to know when an answer has been handled.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route

from js.dist import DIST

pytestmark = pytest.mark.e2e

GATEWAY = "https://gateway.test"
HOST = "https://shop.test"
PAGE = f"""<!doctype html><title>transport</title>
<script>
  window.calls = [];
  window.targets = [];
  window.sizes = [];  // body bytes of each request
  let handled = 0, waiting = [];
  const answer = () => {{
    handled++;
    waiting = waiting.filter(([n, resolve]) => handled >= n ? resolve() : true);
  }};
  const realFetch = window.fetch, realText = Response.prototype.text;
  window.fetch = (url, init) => {{
    calls.push(JSON.parse(init.body).events.map((e) => e.event_id));
    targets.push(url);
    sizes.push(new Blob([init.body]).size);
    return realFetch(url, init).catch((error) => {{
      answer();  // no answer to read
      throw error;
    }});
  }};
  // The SDK reads every answer (Chrome frees a keepalive request's budget only then): an answer is
  // handled once it was read.
  Response.prototype.text = function () {{
    return realText.call(this).finally(answer);
  }};
  // Resolves once the n-th answer was handled by the SDK: its callbacks are microtasks queued after
  // ours, so a macrotask later they have run (MessageChannel: the fake clock leaves it alone).
  const macrotask = () => new Promise((resolve) => {{
    const channel = new MessageChannel();
    channel.port1.onmessage = resolve;
    channel.port2.postMessage(0);
  }});
  window.answered = async (n) => {{
    await new Promise((resolve) => handled >= n ? resolve() : waiting.push([n, resolve]));
    await macrotask();
  }};
  window.embed = {{settings: {{shareToken: "token"}}, sessionId: "s"}};
  window.send = (id, trackingURL, padding = 0) =>
    Percus._.send(embed, {{event_id: id, event_type: "video.played",
                           padding: "\\u00e9".repeat(padding)}}, trackingURL);
</script>
<script src="{GATEWAY}/sdk/percus-embed-sdk.js"></script>"""


class Gateway:
    """Answers each events POST with the next scripted (status, headers); 202 when the script ends."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []

    def answer(self, route: Route) -> None:
        status, headers = self.script.pop(0) if self.script else (202, {})
        route.fulfill(status=status, body="{}", content_type="application/json", headers={
            "Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After", **headers})


@pytest.fixture
def transport(browser: Browser) -> Iterator[tuple[Page, Gateway]]:
    context = browser.new_context()
    page = context.new_page()
    gateway = Gateway()
    bundle = (DIST / "percus-embed-sdk.js").read_bytes()
    page.route("**/events?*", gateway.answer)
    page.route(f"{GATEWAY}/sdk/percus-embed-sdk.js",
               lambda route: route.fulfill(body=bundle, content_type="text/javascript"))
    page.route(f"{HOST}/", lambda route: route.fulfill(body=PAGE, content_type="text/html"))
    page.clock.install()
    page.goto(f"{HOST}/")
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)  # time moves only by run_for from here
    yield page, gateway
    context.close()


def calls(page: Page) -> list[list[str]]:
    result: list[list[str]] = page.evaluate("calls")
    return result


def settle(page: Page, answers: int) -> None:
    page.evaluate("(n) => answered(n)", answers)


def test_a_refused_batch_is_dropped_not_retried(transport: tuple[Page, Gateway]) -> None:
    page, gateway = transport
    gateway.script = [(400, {})]
    page.evaluate("send('a')")
    settle(page, 1)
    page.clock.run_for(60_000)
    assert calls(page) == [["a"]]
    page.evaluate("send('b')")  # one refusal does not stop the transport
    settle(page, 2)
    assert calls(page) == [["a"], ["b"]]


def test_429_is_retried_after_retry_after_seconds(transport: tuple[Page, Gateway]) -> None:
    page, gateway = transport
    gateway.script = [(429, {"Retry-After": "3"})]
    page.evaluate("send('a')")
    settle(page, 1)
    page.clock.run_for(2_999)
    assert calls(page) == [["a"]]
    page.clock.run_for(1)
    settle(page, 2)
    assert calls(page) == [["a"], ["a"]]


def test_failures_back_off_200_ms_times_n_and_stop_after_five(transport: tuple[Page, Gateway]) -> None:
    page, gateway = transport
    gateway.script = [(503, {})] * 5
    page.evaluate("send('a')")
    for attempt in range(1, 5):
        settle(page, attempt)
        page.evaluate("send('b' + calls.length)")  # queued meanwhile: goes out with the retry
        page.clock.run_for(200 * attempt - 1)
        assert len(calls(page)) == attempt
        page.clock.run_for(1)
        assert len(calls(page)) == attempt + 1
    settle(page, 5)
    page.clock.run_for(600_000)
    page.evaluate("send('late')")
    sent: Any = calls(page)
    assert len(sent) == 5 and sent[-1] == ["a", "b1", "b2", "b3", "b4"]
    assert json.dumps(sent).count('"late"') == 0


def test_a_network_failure_counts_like_a_5xx(transport: tuple[Page, Gateway]) -> None:
    page, _ = transport
    page.unroute("**/events?*")
    page.route("**/events?*", lambda route: route.abort("connectionrefused"))
    page.evaluate("send('a')")
    for attempt in range(1, 5):
        settle(page, attempt)
        page.clock.run_for(200 * attempt)
    settle(page, 5)
    page.clock.run_for(600_000)
    assert calls(page) == [["a"]] * 5


def test_tracking_url_priority(transport: tuple[Page, Gateway]) -> None:
    """Per call > window.percusTrackingURL > window.PERCUS_TRACK_BASE_URL > attribute > the gateway."""
    page, _ = transport
    page.evaluate("""async () => {
        embed.settings.trackingUrl = "https://attribute.test/v1";
        window.PERCUS_TRACK_BASE_URL = "https://base.test/v1";
        window.percusTrackingURL = "/first-party/v1/";  // relative: resolved against the page
        const steps = [
            () => send("1", "https://per-call.test/v1"),
            () => send("2"),
            () => { delete window.percusTrackingURL; send("3"); },
            () => { delete window.PERCUS_TRACK_BASE_URL; send("4"); },
            () => { embed.settings.trackingUrl = null; send("5"); },
        ];
        for (const [n, step] of steps.entries()) {
            step();
            await answered(n + 1);
        }
    }""")
    targets = [url.split("?")[0] for url in page.evaluate("targets")]
    assert targets == ["https://per-call.test/v1/events", f"{HOST}/first-party/v1/events",
                       "https://base.test/v1/events", "https://attribute.test/v1/events",
                       f"{GATEWAY}/analytics/v1/events"]
    assert all(url.endswith("?token=token") for url in page.evaluate("targets"))


def test_a_flush_sends_what_fits_in_the_keepalive_budget_in_one_request(
        transport: tuple[Page, Gateway]) -> None:
    page, gateway = transport
    gateway.script = [(503, {})]
    page.evaluate("send('a')")
    settle(page, 1)  # a retry is waiting: what is sent from here on stays queued
    page.evaluate("for (let i = 0; i < 100; i++) send('b' + i, undefined, 500)")  # about 1 KB each
    page.evaluate("Percus._.flush()")  # the tab is hidden
    sent: Any = calls(page)
    assert len(sent) == 2 and sent[1][:2] == ["a", "b0"]  # the retried event first, in order
    # As many as fit (one more, about 1.1 KB, would not): larger batches, not more requests.
    assert 56_000 - 1_100 < page.evaluate("sizes")[1] <= 56_000
    settle(page, 2)
    page.clock.run_for(1)  # the flight landed: the rest goes out as usual, 20 at a time
    for answers in range(3, 6):
        settle(page, answers)
        page.clock.run_for(1)
    sent = calls(page)
    assert [len(batch) for batch in sent[2:]] == [20, 20, 100 - len(sent[1]) + 1 - 40]
    assert [event_id for batch in sent[1:] for event_id in batch] == ["a"] + [f"b{i}" for i in range(100)]


def test_an_event_too_large_for_any_keepalive_request_is_dropped(transport: tuple[Page, Gateway]) -> None:
    page, _ = transport
    page.evaluate("send('huge', undefined, 40_000)")  # 80 KB as UTF-8: no keepalive request can carry it
    page.evaluate("send('next')")
    settle(page, 1)
    assert calls(page) == [["next"]]
