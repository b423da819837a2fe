"""What `percus serve` prints, uvicorn's lines and ours alike: one text format, or JSON lines with
PERCUS_LOG_FORMAT=json; and the optional request log (`--access-log`), which never writes the
client's address, the query string (share tokens ride there) or the User-Agent."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORMATS = ("text", "json")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ACCESS = logging.getLogger("percus.access")
# What a record of the request log carries beyond its message (JSON lines give them as fields).
_REQUEST_FIELDS = ("method", "path", "status", "duration_ms")


class JsonLines(logging.Formatter):
    """One JSON object per record: time (UTC, milliseconds), level, logger, message, and a request
    log record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        line.update({name: getattr(record, name) for name in _REQUEST_FIELDS if hasattr(record, name)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def log_format(env: Mapping[str, str]) -> str:
    value = env.get("PERCUS_LOG_FORMAT", "text").strip().lower()
    if value not in FORMATS:
        raise ValueError(f"PERCUS_LOG_FORMAT must be one of {', '.join(FORMATS)}, got {value!r}")
    return value


def log_config(form: str, level: str) -> dict[str, Any]:
    """A logging.config dictionary for uvicorn (its loggers) and ours (the root's): one handler on
    stderr, one format. uvicorn's own access log stays off: it writes client addresses."""
    formatter = {"()": f"{__name__}.JsonLines"} if form == "json" else {"format": TEXT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"percus": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "percus",
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        # The request log, when asked for (--access-log), shows whatever the level (--quiet).
        "loggers": {"uvicorn": {"level": level}, "uvicorn.error": {"level": level},
                    "uvicorn.access": {"level": "WARNING", "propagate": False},
                    ACCESS.name: {"level": "INFO"}},
    }


class AccessLog:
    """ASGI middleware: one line per HTTP request once answered: method, path (without the query
    string), status, duration. Nothing else about the client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            duration = round(1000 * (time.perf_counter() - started), 1)
            ACCESS.info("%s %s %d %.1f ms", scope["method"], scope["path"], status, duration,
                        extra={"method": scope["method"], "path": scope["path"], "status": status,
                               "duration_ms": duration})
