"""A webhook run: collect, then deliver, for every organization with an enabled webhook, holding the
lock on the webhook state (webhook_lock, beside the data on a local store; on S3 the deployment runs
the webhook Lambda with reserved concurrency 1 instead)."""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from pipeline import layout
from pipeline.governance.registry import OrganizationRegistry, Webhook
from pipeline.store.base import Store
from pipeline.store.lock import Busy, store_lock
from pipeline.webhooks.collect import collect
from pipeline.webhooks.deliver import Sender
from pipeline.webhooks.policy import WebhookPolicy
from pipeline.webhooks.reports import OrgReport, WebhookReport

log = logging.getLogger("percus.webhooks")


class WebhooksBusy(Busy):
    """Another process is delivering webhooks from this store and the caller chose not to wait."""


def webhook_lock(store: Store, *, wait: bool = True) -> contextlib.AbstractContextManager[None]:
    """Exclusive right to the webhook state (local stores only; on S3 one Lambda runs at a time)."""
    return store_lock(store, layout.WEBHOOKS_LOCK, WebhooksBusy, "another webhook run is using this store",
                      wait=wait)


def run(store: Store, registry: OrganizationRegistry | None = None, *, orgs: Sequence[str] | None = None,
        policy: WebhookPolicy | None = None, client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time, jitter: Callable[[], float] = random.random,
        budget: float | None = None, wait: bool = True, actor: str | None = None) -> WebhookReport:
    """Collect and deliver for every organization with an enabled webhook (or those of `orgs`).

    `clock` (epoch seconds) stamps signatures and schedules retries; `budget` (seconds of real time)
    stops starting requests once spent, leaving the rest to the next run. `wait=False` raises
    WebhooksBusy instead of waiting for a running delivery. A `client` given (tests: one trusting
    their own CA) should, like the one made here, keep no connection alive and use no proxy.
    """
    registry = registry if registry is not None else OrganizationRegistry(store, cache_seconds=0)
    policy = policy if policy is not None else WebhookPolicy()
    targets = [(record.organization_id, record.webhook) for record in registry.list()
               if record.webhook is not None and record.webhook.enabled
               and (orgs is None or record.organization_id in orgs)]
    report = WebhookReport()
    if not targets:
        return report
    deadline = None if budget is None else time.monotonic() + budget
    with webhook_lock(store, wait=wait):
        for org, webhook in targets:
            org_report = report.organizations[org] = OrgReport()
            try:
                collect(store, org, webhook, batch_size=policy.batch_size, report=org_report)
            except Exception as exc:  # one organization's broken state must not stop the others
                log.exception("webhook collection failed for %s", org)
                org_report.error = f"collect: {type(exc).__name__}"
        own_client = client is None
        if client is None:
            # Its own transport, so no proxy from the environment: the address dialled must be the one
            # checked (deliver.py), and a proxy's TLS tunnel would not carry the host name. No
            # connection kept alive: they are pooled by the address dialled, which two hosts may share.
            transport = httpx.HTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))
            client = httpx.Client(transport=transport, timeout=policy.timeout, follow_redirects=False)
        sender = Sender(store, policy, client, clock, jitter, deadline, actor)

        def deliver(target: tuple[str, Webhook]) -> None:
            org, webhook = target
            sender.deliver(org, webhook, report.organizations[org])

        try:
            with ThreadPoolExecutor(max_workers=min(policy.workers, len(targets)),
                                    thread_name_prefix="webhook") as pool:
                list(pool.map(deliver, targets))
        finally:
            if own_client:
                client.close()
    return report
