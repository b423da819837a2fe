"""The batches an operator looks at and sends again (`percus webhook …`): those waiting in an outbox,
those dead-lettered, and redrive, which puts dead letters back in the outbox with fresh attempts."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.governance import audit
from pipeline.store.base import Store
from pipeline.webhooks.outbox import Batch, dead_prefix, load_batch, outbox_prefix, save_batch
from pipeline.webhooks.run import webhook_lock


def dead_letters(store: Store, org: str | None = None) -> list[Batch]:
    """Dead-lettered batches (of one organization), oldest first per organization."""
    return [load_batch(store, key) for key in store.list(dead_prefix(org))]


def pending(store: Store, org: str) -> list[Batch]:
    """The batches in an organization's outbox, in the order they go out."""
    return [load_batch(store, key) for key in store.list(outbox_prefix(org))]


def redrive(store: Store, org: str, batch_ids: Sequence[str] | None = None, *, actor: str | None = None
            ) -> list[str]:
    """Put dead-lettered batches of `org` (all, or those named) back in its outbox with fresh attempts;
    returns their ids. They go out at their place in the outbox (by the time of their first event)."""
    with webhook_lock(store):
        dead = {batch.batch_id: batch for batch in dead_letters(store, org)}
        unknown = sorted(set(batch_ids or ()) - set(dead))
        if unknown:
            raise ValueError(f"no dead-lettered batch {', '.join(unknown)} for {org!r} "
                             "(list them with `percus webhook dead-letters`)")
        chosen = [dead[batch_id] for batch_id in (batch_ids if batch_ids is not None else sorted(dead))]
        for batch in chosen:
            batch.attempts, batch.next_attempt_at, batch.last_error = 0, None, None
            batch.dead_at, batch.dead_reason = None, None
            batch.redriven += 1
            save_batch(store, f"{outbox_prefix(org)}{batch.batch_id}.json", batch)
            store.delete(f"{dead_prefix(org)}{batch.batch_id}.json")
        if chosen:
            audit.record(store, "webhook.redriven", {"organization_id": org},
                         {"batch_ids": [batch.batch_id for batch in chosen], "batches": len(chosen),
                          "event_count": sum(batch.event_count for batch in chosen)}, actor=actor)
        return [batch.batch_id for batch in chosen]
