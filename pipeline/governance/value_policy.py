"""What is stored of an event's free values (cta_value, interaction_value), per organization: the
value cut to 64 characters (store), its keyed id (hash) or nothing (drop). docs/privacy.md says when
to choose which."""

from __future__ import annotations

from typing import Literal

from pipeline.governance.viewer_keys import ViewerKeys
from translator.canonical import CtaClicked, Envelope, InteractionEngaged

ValuePolicy = Literal["store", "hash", "drop"]
VALUE_POLICIES: tuple[ValuePolicy, ...] = ("store", "hash", "drop")


def apply_value_policy(event: Envelope, policy: ValuePolicy, keys: ViewerKeys) -> Envelope:
    """`event` as `policy` stores it: under hash and drop, nothing of the value is left."""
    if policy == "store":
        return event
    if isinstance(event, CtaClicked):
        field, value = "cta_value", event.payload.cta_value
    elif isinstance(event, InteractionEngaged):
        field, value = "interaction_value", event.payload.interaction_value
    else:
        return event
    if value is None:
        return event
    payload = event.payload.model_copy(update={field: keys.keyed_value(value) if policy == "hash" else None})
    return event.model_copy(update={"payload": payload})
