"""Every field of the canonical event models, walked once from translator.canonical.

The curated schema and the raw-object checks are both built from this list, so a field added to a
model becomes a curated column and a checked one without anyone editing the pipeline.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Union, cast
from uuid import UUID

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from translator.canonical import EVENT_MODELS, Envelope


@dataclass(frozen=True)
class EventField:
    path: tuple[str, ...]  # where the value sits in a stored JSON line: ("device", "type")
    kind: type  # str, int, float, bool, datetime or UUID
    required: bool  # required whenever its parent object is present
    default: Any  # the model's default when absent (None for most fields)
    constraints: tuple[Any, ...]  # annotated_types Ge/Le/Gt/Lt, pydantic StringConstraints
    literals: tuple[str, ...] | None  # the allowed values of a Literal field
    event_type: str | None  # payload fields: the event type that carries this field
    annotation: Any  # the model's annotation, to validate a value exactly as the model does


def _unwrap(annotation: Any, metadata: list[Any]) -> tuple[Any, tuple[Any, ...]]:
    """The base type under Optional[...] and Annotated[...], with all their constraints."""
    found = list(metadata)
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation, *extra = typing.get_args(annotation)
            found.extend(extra)
        elif origin in (Union, types.UnionType):
            (annotation,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        else:
            break
    flat: list[Any] = []
    for item in found:
        flat.extend(item.metadata if isinstance(item, FieldInfo) else [item])
    return annotation, tuple(flat)


def _walk(model: type[BaseModel], prefix: tuple[str, ...], skip: frozenset[str],
          event_type: str | None) -> list[EventField]:
    fields = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        base, constraints = _unwrap(info.annotation, info.metadata)
        path = (*prefix, name)
        if isinstance(base, type) and issubclass(base, BaseModel):
            fields.extend(_walk(base, path, frozenset(), event_type))
            continue
        literals = None
        if typing.get_origin(base) is Literal:
            literals, base = tuple(typing.get_args(base)), str
        if base not in (str, int, float, bool, datetime, UUID):
            raise TypeError(f"{'.'.join(path)}: no curated column type for {base!r}")
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        annotation = info.rebuild_annotation()
        fields.append(EventField(path, base, info.is_required(), default, constraints, literals,
                                 event_type, annotation))
    return fields


# event_type and payload are the discriminated part; everything else is the shared envelope.
ENVELOPE_FIELDS: tuple[EventField, ...] = tuple(
    _walk(Envelope, (), frozenset({"event_type", "payload"}), None)
)
PAYLOAD_FIELDS: tuple[EventField, ...] = tuple(
    field
    for event_type, model in EVENT_MODELS.items()
    # Every event model's payload is a model of its own (translator.canonical).
    for field in _walk(cast(type[BaseModel], model.model_fields["payload"].annotation), ("payload",),
                       frozenset(), event_type)
)
