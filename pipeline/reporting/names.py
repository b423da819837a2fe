"""Names beside ids: what the reports show of an organization's projects and templates, from the latest
state of its dimension tables (pipeline/platform/dims.py), read once per report and joined in Python
after the query, so DuckDB and Athena answer the same rows.

The convention of every report surface: an object that carries `project_id` also carries
`project_name`, and one that carries `template_id` also carries `template_name` (null when no
integration event named it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.platform.dims import read_latest
from pipeline.store.base import Store

LABELS = {"project_id": "project_name", "template_id": "template_name"}


@dataclass(frozen=True)
class Names:
    projects: dict[str, str | None]
    archived: frozenset[str]  # projects whose latest state is archived (folded in occurred_at order)
    # By template id; the same id in two projects takes the name of the one activated last.
    templates: dict[str, str | None]

    @classmethod
    def read(cls, store: Store, org: str) -> Names:
        projects = read_latest(store, "projects", org)
        templates = sorted(read_latest(store, "templates", org), key=lambda row: row["updated_at"])
        return cls({row["project_id"]: row["name"] for row in projects},
                   frozenset(row["project_id"] for row in projects if row["archived"]),
                   {row["template_id"]: row["name"] for row in templates})

    def name(self, key: str, value: str | None) -> str | None:
        """The name of the id `value` of a `key` ("project_id" or "template_id")."""
        table = self.projects if key == "project_id" else self.templates
        return None if value is None else table.get(value)

    def label(self, value: Any) -> Any:
        """`value` (JSON-ready) with a name after each project_id and template_id it carries."""
        if isinstance(value, list):
            return [self.label(item) for item in value]
        if not isinstance(value, dict):
            return value
        labelled: dict[str, Any] = {}
        for key, item in value.items():
            labelled[key] = self.label(item)
            if key in LABELS and LABELS[key] not in value:
                labelled[LABELS[key]] = self.name(key, item)
        return labelled
