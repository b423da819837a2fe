"""Scrub requests to the local queue: how a process without the queue's lock (`percus dsar delete`
beside `percus serve`) has every record holding some strings removed. A request is a file in
`<queue>/scrub/`; the process holding the lock carries it out on its receives and answers with a
result file (pipeline/queue/local.py, `LocalQueue._scrub`).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline import files

FOLDER = "scrub"
_REQUEST = re.compile(r"^([0-9a-f]{32})\.json$")


@dataclass(frozen=True)
class ScrubResult:
    records: int  # records not consumed yet, removed
    dead_letters: int
    corrupt_files: int  # files of bytes set aside as corrupt, removed


def ask(directory: Path, needles: Sequence[str]) -> str:
    """File a request to remove every record, dead letter and corrupt file holding one of `needles`;
    returns its name, to wait for its answer with `answer`."""
    name = uuid.uuid4().hex
    _write(directory / FOLDER / f"{name}.json", {"needles": list(needles)})
    return name


def pending(directory: Path) -> list[tuple[str, tuple[bytes, ...]]]:
    """Requests not answered yet, as (name, needles)."""
    try:
        names = sorted(os.listdir(directory / FOLDER))
    except FileNotFoundError:  # the usual case: checked on every receive, so kept cheap
        return []
    requests = []
    for file in names:
        if match := _REQUEST.fullmatch(file):
            try:
                needles = json.loads((directory / FOLDER / file).read_bytes())["needles"]
            except (FileNotFoundError, ValueError, KeyError):  # withdrawn, or not written whole
                continue
            requests.append((match[1], tuple(str(needle).encode() for needle in needles)))
    return requests


def reply(directory: Path, name: str, result: ScrubResult) -> None:
    """Answer a request carried out, then remove the request (and the strings it names)."""
    _write(directory / FOLDER / f"{name}.done.json", asdict(result))
    (directory / FOLDER / f"{name}.json").unlink(missing_ok=True)


def answer(directory: Path, name: str) -> ScrubResult | None:
    """The answer to a request once there is one; it is removed as it is read."""
    path = directory / FOLDER / f"{name}.done.json"
    try:
        result = ScrubResult(**json.loads(path.read_bytes()))
    except FileNotFoundError:
        return None
    path.unlink()
    return result


def forget_answers(directory: Path, older_than: float) -> None:
    """Remove answers nobody read (the asking process was stopped) older than `older_than` seconds."""
    cutoff = time.time() - older_than
    for path in (directory / FOLDER).glob("*.done.json"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            continue


def _write(path: Path, value: object) -> None:
    files.make_dirs(path.parent)
    files.replace(path, json.dumps(value).encode())  # the reader never sees half a file
    files.stamp(path)  # an unread answer is aged against time.time() (forget_answers)
