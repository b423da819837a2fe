"""Records the refusals of the ingest routes for Percus Micro's /micro/bad, around the app, without
changing a byte of what the routes receive or answer."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.micro.recorder import Recorder

KEPT_BODY_BYTES = 4096


class Capture:
    """Reads a POST to `paths` whole first (a route refusing early never reads it) and replays it to
    the app; then records a 4xx or 5xx answer's error, or each event of a 202's `rejected` list."""

    def __init__(self, app: ASGIApp, recorder: Recorder, paths: Collection[str]) -> None:
        self._app = app
        self._recorder = recorder
        self._paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self._paths:
            await self._app(scope, receive, send)
            return
        messages: list[Message] = []
        while not messages or messages[-1].get("more_body", False):
            messages.append(await receive())
            if messages[-1]["type"] != "http.request":
                break
        body = b"".join(message.get("body", b"") for message in messages)
        status, answer = 0, bytearray()

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                answer.extend(message.get("body", b""))
            await send(message)

        await self._app(scope, replay, sending)
        self._record(scope["path"], body, status, bytes(answer))

    def _record(self, path: str, body: bytes, status: int, answer: bytes) -> None:
        try:
            result: Any = json.loads(answer)
        except ValueError:
            result = {}
        refusal = {"received_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                   "path": path, "status": status,
                   "body": body[:KEPT_BODY_BYTES].decode("utf-8", "replace"),
                   "body_bytes": len(body)}
        if status >= 400:
            error = result.get("error") if isinstance(result, dict) else None
            self._recorder.bad.append({**refusal, "index": None, "event_id": None, "error": error})
        elif isinstance(result, dict):
            for rejected in result.get("rejected") or ():
                self._recorder.bad.append({**refusal, **rejected})
