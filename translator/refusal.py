"""Why one item of a batch (an event, an outcome, a viewer hash) was refused, as the API reports it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ItemError(Exception):
    """A stable `code`, a sentence, and the offending field if any."""

    code: str
    message: str
    field: str | None = None

    def as_json(self) -> dict[str, str]:
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body
