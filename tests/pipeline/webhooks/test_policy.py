"""The webhook policy: backoff with jitter, and its settings from the environment."""

from __future__ import annotations

import pytest

from pipeline.webhooks.policy import WebhookPolicy


def test_backoff_doubles_up_to_the_cap_with_jitter_between_half_and_all() -> None:
    policy = WebhookPolicy(base_delay=30, max_delay=3600)
    assert [policy.delay(n, 0.999999) for n in range(1, 10)] == pytest.approx(
        [30, 60, 120, 240, 480, 960, 1920, 3600, 3600], rel=1e-5)
    assert [policy.delay(n, 0.0) for n in range(1, 4)] == [15, 30, 60]
    assert WebhookPolicy().max_attempts == 8
    assert WebhookPolicy.from_env({"PERCUS_WEBHOOK_MAX_ATTEMPTS": "3", "PERCUS_WEBHOOK_TIMEOUT": "2.5"}) == \
        WebhookPolicy(max_attempts=3, timeout=2.5)
    with pytest.raises(ValueError, match="PERCUS_WEBHOOK_MAX_ATTEMPTS"):
        WebhookPolicy.from_env({"PERCUS_WEBHOOK_MAX_ATTEMPTS": "many"})
    with pytest.raises(ValueError, match="at least 1"):
        WebhookPolicy(max_attempts=0)

