"""Concurrent clients for the load tests: events cut into requests, posted, every answer recorded."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.reliability._serve import EVENTS

MAX_BATCH = 500  # the API's limit
MAX_BYTES = 512 * 1024


@dataclass
class Request:
    ids: list[str]
    body: bytes
    resend: bool  # its events were all posted before, in other requests


@dataclass
class Answers:
    statuses: Counter[int] = field(default_factory=Counter)
    acknowledged: set[str] = field(default_factory=set)  # ids of requests answered 202
    accepted: int = 0
    duplicates: int = 0
    failures: list[str] = field(default_factory=list)
    retries: int = 0  # requests sent again after their connection broke

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def cut(events: Sequence[dict[str, Any]], rng: random.Random, *, singles: int, resend: bool = False,
        sizes: Sequence[int] = (2, 10, 37, 100, 250, MAX_BATCH)) -> list[Request]:
    """The first `singles` events one per request, the rest in batches of mixed sizes."""
    out = []
    position = 0
    while position < len(events):
        size = 1 if position < singles else rng.choice([*sizes, rng.randint(1, MAX_BATCH)])
        chunk = events[position : position + size]
        position += len(chunk)
        body = json.dumps(chunk[0] if len(chunk) == 1 else {"events": list(chunk)},
                          separators=(",", ":")).encode()
        assert len(body) <= MAX_BYTES
        out.append(Request([str(e["event_id"]) for e in chunk], body, resend))
    return out


async def _post_all(bases: Sequence[str], share: str, requests: Sequence[Request], answers: Answers,
                    clients: int, retry: bool) -> None:
    pending = iter(requests)
    headers = {"Authorization": f"Bearer {share}", "Content-Type": "application/json"}

    async def client(base: str) -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60,
                                     limits=httpx.Limits(max_connections=1)) as http:
            for request in pending:  # one shared iterator: each request is taken by one client
                while True:
                    try:
                        response = await http.post(EVENTS, content=request.body)
                        break
                    except httpx.TransportError:  # the connection's server process was killed
                        if not retry:
                            raise
                        answers.retries += 1
                answers.statuses[response.status_code] += 1
                if response.status_code != 202:
                    answers.failures.append(f"{response.status_code} {response.text[:200]}")
                    continue
                result = response.json()
                if result["rejected"] or result["accepted"] + result["duplicates"] != len(request.ids):
                    answers.failures.append(f"answer {result} for {len(request.ids)} events")
                if request.resend and request.ids[0] not in answers.acknowledged:
                    answers.failures.append("a re-send was posted before its first copy was answered")
                answers.accepted += result["accepted"]
                answers.duplicates += result["duplicates"]
                answers.acknowledged.update(request.ids)

    # Each client ends on its own, even when one fails (a server killed under them): a client
    # cancelled in the middle of connecting leaves a coroutine of anyio's never awaited, which the
    # garbage collector reports later, in whichever test is running then.
    ended = await asyncio.gather(*(client(bases[i % len(bases)]) for i in range(clients)),
                                 return_exceptions=True)
    for outcome in ended:
        if isinstance(outcome, BaseException):
            raise outcome


def post(bases: Sequence[str], share: str, requests: Sequence[Request], answers: Answers, *,
         clients: int = 8, retry: bool = False) -> None:
    """Post every request once over `clients` connections, spread over the servers at `bases`; with
    `retry`, a request whose connection broke is sent again, as a client with a retry policy does."""
    asyncio.run(_post_all(bases, share, requests, answers, clients, retry))
