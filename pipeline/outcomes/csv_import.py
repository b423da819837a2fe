"""A CRM export into outcomes or an audience (`percus outcomes import`): a CSV with a header row naming
its columns, read as a stream in chunks of CHUNK rows, each keyed and stored like an API request (but
larger: a chunk writes one object per day it covers, so a year of CRM history in 1,000-row chunks
would leave hundreds of tiny objects per chunk). A bad row is
reported by its line number and skipped; it never costs the rows beside it. Messages never quote a
viewer hash.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.governance import audit
from pipeline.governance.viewer_keys import ViewerKeys
from pipeline.outcomes.intake import add_members, store_outcomes
from pipeline.outcomes.rows import parse_member, parse_outcome
from pipeline.progress import Progress
from pipeline.store.base import Store
from translator.refusal import ItemError

OUTCOME_COLUMNS = ("outcome_id", "viewer_hash", "name", "occurred_at")  # required; value, currency optional
OPTIONAL_COLUMNS = ("value", "currency")
CHUNK = 50_000  # rows stored at a time, one progress line each


@dataclass
class Imported:
    rows: int = 0  # data rows read
    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)


def import_csv(store: Store, org: str, lines: Iterable[str], keys: ViewerKeys, *,
               audience: str | None = None, progress: Progress[Imported] | None = None,
               actor: str | None = None, chunk_rows: int | None = None) -> Imported:
    """Outcomes (columns OUTCOME_COLUMNS, optionally value and currency) or, with `audience`, the
    members of that audience (a `viewer_hash` column); other columns are ignored. `chunk_rows`: rows
    stored at a time (default CHUNK)."""
    rows = _rows(lines)
    try:
        header = next(rows)[1]
    except StopIteration:
        raise ValueError("the file is empty: it needs a header row naming its columns") from None
    columns = {name.strip().lower(): index for index, name in enumerate(header)}
    needed = ("viewer_hash",) if audience is not None else OUTCOME_COLUMNS
    missing = [name for name in needed if name not in columns]
    if missing:
        raise ValueError(f"the header row lacks the column(s) {', '.join(missing)} (it has: "
                         f"{', '.join(name for name in columns if name)[:200]})")
    result = Imported()
    chunk: list[Any] = []
    size = chunk_rows or CHUNK
    now = datetime.now(UTC)

    def flush() -> None:
        if not chunk:
            return
        if audience is not None:
            stored = add_members(store, org, audience, chunk, keys, received_at=now)
        else:
            stored = store_outcomes(store, org, chunk, keys, received_at=now)
        result.accepted += stored.accepted
        result.duplicates += stored.duplicates
        chunk.clear()
        if progress is not None:
            progress(result.rows, None, result)  # rows read; how many there are is known at the end

    for line, cells in rows:
        if isinstance(cells, str):  # the csv module refused the line
            result.rejected.append((line, cells))
            continue
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        result.rows += 1
        try:
            if audience is not None:
                chunk.append(parse_member(_cell(cells, columns, "viewer_hash"), 0))
            else:
                chunk.append(parse_outcome({name: value for name in (*OUTCOME_COLUMNS, *OPTIONAL_COLUMNS)
                                            if (value := _cell(cells, columns, name)) is not None}, now=now))
        except ItemError as exc:
            result.rejected.append((line, exc.message if audience is None else f"viewer_hash: {exc.message}"))
            continue
        if len(chunk) == size:
            flush()
    flush()
    _audit(store, org, audience, result, now, actor)
    return result


def _rows(lines: Iterable[str]) -> Iterator[tuple[int, list[str] | str]]:
    """(first line number, cells) of each record; for a record the csv module refuses, the reason."""
    reader = csv.reader(lines)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, f"not a CSV record ({exc})"
            continue
        yield start, cells


def _cell(cells: list[str], columns: dict[str, int], name: str) -> str | None:
    index = columns.get(name)
    if index is None or index >= len(cells) or not cells[index].strip():
        return None
    return cells[index].strip()


def _audit(store: Store, org: str, audience: str | None, result: Imported, now: datetime,
           actor: str | None) -> None:
    counts = {"accepted": result.accepted, "duplicates": result.duplicates, "rejected": len(result.rejected),
              "source": "csv"}
    if audience is None:
        audit.record(store, "outcomes.received", {"organization_id": org}, counts, now=now, actor=actor)
    else:
        audit.record(store, "audience.added", {"organization_id": org, "audience": audience}, counts, now=now,
                     actor=actor)
