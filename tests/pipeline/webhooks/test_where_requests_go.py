"""Where a webhook request goes: never to an internal address, whatever its spelling or what the name
resolves to when a batch is sent; the client dials the address that was checked, and TLS still verifies
the name."""

from __future__ import annotations

import uuid

import httpx
import pytest

from pipeline.governance import audit
from pipeline.governance.registry import OrganizationRegistry, Webhook
from pipeline.governance.registry.organizations import Organizations
from pipeline.store.base import Store
from pipeline.store.local import LocalStore
from pipeline.webhooks.dead_letters import dead_letters, pending, redrive
from pipeline.webhooks.policy import WebhookPolicy
from tests.pipeline.webhooks._harness import (
    SINCE,
    Clock,
    Receiver,
    Receivers,
    deliver,
    events,
    ids,
    land,
)
from tests.pipeline.webhooks.conftest import TLS_NAME, Dns, Tls

# -- where requests go ----------------------------------------------------------------------------


def stored_webhook(store: Store, org: str, url: str) -> str:
    """A webhook record as written before URLs were checked for addresses; returns its secret."""
    organizations = Organizations(store, None)
    record = organizations.get(org) or organizations.create(org)
    secret = f"whsec_{uuid.uuid4().hex}"
    organizations.save(record.model_copy(update={"webhook": Webhook(url=url, secret=secret, since=SINCE)}))
    return secret


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "localhost"])
def test_delivery_never_connects_to_an_internal_address_stored_before_the_check(
        store: LocalStore, receivers: Receivers, clock: Clock, host: str) -> None:
    receiver = receivers["acme"]
    url = f"http://{host}:{receiver.port}/hooks/percus"  # 127.0.0.1, the receiver
    receiver.secret = stored_webhook(store, "acme", url)
    sent = events("acme", 3)
    land(store, sent)
    policy = WebhookPolicy(max_attempts=2, base_delay=30, max_delay=600, timeout=1)
    deliver(store, clock, policy)
    # It fails as an unreachable endpoint does: retried, then dead-lettered; never connected to.
    (waiting,) = pending(store, "acme")
    assert (waiting.attempts, waiting.last_error) == (1, "refused address (loopback)")
    clock.now = waiting.next_attempt_at or 0
    assert len(deliver(store, clock, policy).organizations["acme"].dead_lettered) == 1
    (dead,) = dead_letters(store, "acme")
    assert (dead.dead_reason, dead.last_error) == ("attempts_exhausted", "refused address (loopback)")
    (record,) = audit.list_records(store, action="webhook.dead_lettered")
    assert record["details"]["last_error"] == "refused address (loopback)"
    assert receiver.connections == 0

    # Allowed for this URL, the same spelling reaches the address it names, with its own Host header.
    OrganizationRegistry(store, cache_seconds=0).set_webhook("acme", url, allow_loopback=True)
    redrive(store, "acme")
    deliver(store, clock, policy)
    assert sorted(receiver.accepted()) == sorted(ids(sent)) and receiver.rejected == []
    assert receiver.requests[0].headers["Host"] == f"{host}:{receiver.port}"


def test_a_name_that_resolves_to_an_internal_address_when_sending_is_refused(
        store: LocalStore, registry: OrganizationRegistry, clock: Clock, dns: Dns, tls: Tls,
        tls_receiver: Receiver) -> None:
    url = f"https://{TLS_NAME}:{tls_receiver.port}/hooks/percus"
    registry.create("acme")
    dns.answers[TLS_NAME] = ["93.184.216.34"]  # public when the URL is set ...
    tls_receiver.secret = registry.set_webhook("acme", url, since=SINCE) or ""
    dns.answers[TLS_NAME] = ["127.0.0.1"]  # ... loopback when a batch goes: DNS rebinding
    land(store, events("acme", 2))
    with httpx.Client(transport=httpx.HTTPTransport(verify=tls.client)) as client:
        report = deliver(store, clock, client=client)
    assert report.organizations["acme"].failed_attempts == 1
    (waiting,) = pending(store, "acme")
    assert waiting.last_error == "refused address (loopback)"
    assert tls_receiver.connections == 0 and tls_receiver.requests == []


def test_the_client_dials_the_address_checked_and_tls_still_verifies_the_name(
        store: LocalStore, registry: OrganizationRegistry, clock: Clock, dns: Dns, tls: Tls,
        tls_receiver: Receiver) -> None:
    url = f"https://{TLS_NAME}:{tls_receiver.port}/hooks/percus"
    registry.create("acme")
    dns.answers[TLS_NAME] = ["127.0.0.1"]
    tls_receiver.secret = registry.set_webhook("acme", url, since=SINCE, allow_loopback=True) or ""
    sent = events("acme", 2)
    land(store, sent)
    dns.asked.clear()
    with httpx.Client(transport=httpx.HTTPTransport(verify=tls.client)) as client:
        deliver(store, clock, client=client)
    assert sorted(tls_receiver.accepted()) == sorted(ids(sent)) and tls_receiver.rejected == []
    assert dns.asked.count(TLS_NAME) == 1  # by the check alone: the client never resolved it again
    assert tls.sni == [TLS_NAME]  # the certificate, for that name only, was verified against it
    assert tls_receiver.requests[0].headers["Host"] == f"{TLS_NAME}:{tls_receiver.port}"


