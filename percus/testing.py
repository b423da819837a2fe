"""The pytest plugin (entry point `pytest11`): the `percus_micro` fixture, one Percus Micro for the test
session, reset before each test that uses it (docs/testing-your-embed.md)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest


class MicroClient:
    """A running Micro: its `url`, its share `token`, and what it saw."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def good(self, **filters: Any) -> list[dict[str, Any]]:
        """Accepted events, oldest first, whose fields equal the filters (event_type, cta_name…)."""
        return list(self._get("/micro/good", filters)["events"])

    def bad(self) -> list[dict[str, Any]]:
        return list(self._get("/micro/bad", {})["refused"])

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/micro/reset", method="POST")).close()

    def wait_for(self, event_type: str, count: int = 1, timeout: float = 10, **filters: Any
                 ) -> list[dict[str, Any]]:
        """The matching events as soon as `count` arrived; AssertionError naming what did after `timeout`."""
        query = {"event_type": event_type, "count": count, "timeout": timeout, **filters}
        try:
            return list(self._get("/micro/wait", query)["events"])
        except urllib.error.HTTPError as error:
            if error.code != 408:
                raise
            arrived = json.load(error)["events"]
        types = [event["event_type"] for event in self.good()]
        raise AssertionError(f"{len(arrived)} of {count} {event_type} events {filters or ''} arrived within "
                             f"{timeout} s; all accepted: {types}; refused: {self.bad()}")

    def host_page(self, snippet: str, name: str = "index.html") -> str:
        """Puts a page holding `snippet` (your embed element and the SDK's script tag; a whole
        document when it starts with `<!doctype` or `<html`) on Micro until the next reset, and
        returns its URL: on `localhost` when Micro listens on 127.0.0.1, so the page is of another
        origin than the SDK and the gateway, as on a customer's site."""
        html = snippet if snippet.lstrip()[:9].lower() in ("<!doctype", "<html") else (
            '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Embed under test</title>'
            f'</head>\n<body>\n{snippet}\n</body>\n</html>\n')
        path = f"/micro/pages/{urllib.parse.quote(name)}"
        request = urllib.request.Request(f"{self.url}{path}", data=html.encode(), method="PUT",
                                         headers={"Content-Type": "text/html; charset=utf-8"})
        urllib.request.urlopen(request).close()
        parts = urllib.parse.urlsplit(self.url)
        if parts.hostname == "127.0.0.1":
            parts = parts._replace(netloc=f"localhost:{parts.port}")
        return urllib.parse.urlunsplit(parts._replace(path=path))

    def _get(self, path: str, query: dict[str, Any]) -> dict[str, Any]:
        query_string = urllib.parse.urlencode({name: _text(value) for name, value in query.items()})
        with urllib.request.urlopen(f"{self.url}{path}?{query_string}") as answer:
            result: dict[str, Any] = json.load(answer)
            return result


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@pytest.fixture(scope="session")
def percus_micro_server() -> Iterator[MicroClient]:
    """The session's Micro, started on first use."""
    # Imported here: pytest loads this plugin in every run, and the gateway costs ~0.5 s to import.
    from percus.micro import Running

    running = Running()
    yield MicroClient(running.url, running.token)
    running.stop()


@pytest.fixture
def percus_micro(percus_micro_server: MicroClient) -> MicroClient:
    """The session's Micro, reset: a test sees only its own events."""
    percus_micro_server.reset()
    return percus_micro_server
