"""What is stored of an event's free values (cta_value, interaction_value), per organization: the
value cut to 64 characters (store), its keyed id (hash) or nothing (drop). docs/privacy.md says when
to choose which."""

from __future__ import annotations

from typing import Literal

from pipeline.governance.viewer_keys import ViewerKeys
from translator.canonical import CtaClicked, Envelope, InteractionEngaged

ValuePolicy = Literal["store", "hash", "drop"]
VALUE_POLICIES: tuple[ValuePolicy, ...] = ("store", "hash", "drop")


# The event types with a free value, and its field in their payload.
VALUE_FIELDS = {"cta.clicked": "cta_value", "interaction.engaged": "interaction_value"}


def apply_value_policy(event: Envelope, policy: ValuePolicy, keys: ViewerKeys) -> Envelope:
    """`event` as `policy` stores it: under hash and drop, nothing of the value is left."""
    if policy == "store" or not isinstance(event, CtaClicked | InteractionEngaged):
        return event
    field = VALUE_FIELDS[event.event_type]
    value = getattr(event.payload, field)
    if value is None:
        return event
    payload = event.payload.model_copy(update={field: stored_value(value, policy, keys)})
    return event.model_copy(update={"payload": payload})


def stored_value(value: str, policy: ValuePolicy, keys: ViewerKeys) -> str | None:
    """What `policy` stores of a free value (cut to 64 characters on validation)."""
    if policy == "store":
        return value
    return keys.keyed_value(value) if policy == "hash" else None
