"""The local queue's dead-letter log, `dead-letter.jsonl`: one JSON line per message received
max_receives times without being deleted, kept for inspection, then expired."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pipeline import files

NAME = "dead-letter.jsonl"


class DeadLetterLog:
    def __init__(self, directory: Path, *, fsync: bool) -> None:
        self.path = directory / NAME
        self._fsync = fsync

    def append(self, dead: Sequence[tuple[int, bytes, int]]) -> None:
        """Add (offset, body, receive count) entries; OSError when the log cannot be written."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        lines = []
        for off, body, count in dead:
            entry: dict[str, object] = {"offset": off, "receive_count": count, "dead_lettered_at": now}
            try:
                entry["body"] = body.decode()
            except UnicodeDecodeError:
                entry["body_base64"] = base64.b64encode(body).decode()
            lines.append(json.dumps(entry, separators=(",", ":")) + "\n")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, files.FILE_MODE)
        try:
            os.write(fd, "".join(lines).encode())
            if self._fsync:
                os.fdatasync(fd)
        finally:
            os.close(fd)

    def bodies(self) -> list[bytes]:
        """The bodies in the log, oldest first (a line torn by a crash is left out)."""
        return [body for line in self._lines() if (body := _body(line)) is not None]

    def rewrite(self, keep: Callable[[bytes, float], bool]) -> int:
        """Keep, atomically, the lines for which keep(body, when dead-lettered) holds; how many went.
        A line torn by a crash is passed as its own bytes, dead-lettered at 0 (it is unreadable)."""
        lines = self._lines()
        kept = [line for line in lines if keep(_body_or_line(line), _lettered_at(line))]
        if len(kept) < len(lines):
            files.replace(self.path, b"".join(kept), fsync=self._fsync)
        return len(lines) - len(kept)

    def _lines(self) -> list[bytes]:
        try:
            return self.path.read_bytes().splitlines(keepends=True)
        except FileNotFoundError:
            return []


def _body(line: bytes) -> bytes | None:
    try:
        entry = json.loads(line)
        return str(entry["body"]).encode() if "body" in entry else base64.b64decode(entry["body_base64"])
    except (ValueError, KeyError, TypeError):
        return None


def _body_or_line(line: bytes) -> bytes:
    body = _body(line)
    return line if body is None else body


def _lettered_at(line: bytes) -> float:
    try:
        return datetime.fromisoformat(json.loads(line)["dead_lettered_at"]).timestamp()
    except (ValueError, KeyError, TypeError):
        return 0.0
