"""How webhooks are sent: attempts, backoff, timeout and batch size (WebhookPolicy, defaults or the
environment), and which of an organization's secrets sign a request."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.governance.registry import Webhook

_ENV = {"PERCUS_WEBHOOK_MAX_ATTEMPTS": ("max_attempts", int),
        "PERCUS_WEBHOOK_BASE_DELAY": ("base_delay", float), "PERCUS_WEBHOOK_MAX_DELAY": ("max_delay", float),
        "PERCUS_WEBHOOK_TIMEOUT": ("timeout", float), "PERCUS_WEBHOOK_BATCH_SIZE": ("batch_size", int)}


@dataclass(frozen=True)
class WebhookPolicy:
    max_attempts: int = 8  # failed attempts before a batch is dead-lettered
    base_delay: float = 60.0  # seconds before the first retry; doubled for each further one
    max_delay: float = 3600.0  # defaults: 1, 2, 4, 8, 16, 32, 60 min (x 0.5-1): the 8th try 1-2 h on
    timeout: float = 10.0  # seconds for connecting, sending and for the answer
    batch_size: int = 500  # events per request
    workers: int = 4  # organizations delivered to at the same time

    def __post_init__(self) -> None:
        for name in ("max_attempts", "batch_size", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"webhook {name} must be at least 1")
        if not 0 < self.base_delay <= self.max_delay or self.timeout <= 0:
            raise ValueError("webhook delays and timeout must be positive, base_delay <= max_delay")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebhookPolicy:
        """The defaults, with PERCUS_WEBHOOK_MAX_ATTEMPTS, _BASE_DELAY, _MAX_DELAY, _TIMEOUT (seconds)
        and _BATCH_SIZE where set."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, (attribute, kind) in _ENV.items():
            if env.get(name):
                try:
                    values[attribute] = kind(env[name])
                except ValueError:
                    raise ValueError(f"{name} must be a number, not {env[name]!r}") from None
        return cls(**values)

    def delay(self, failures: int, jitter: float) -> float:
        """Seconds to wait after the `failures`-th failed attempt; `jitter` is uniform in [0, 1)."""
        full: float = min(self.max_delay, self.base_delay * 2 ** (failures - 1))  # int ** int: Any
        return full / 2 + full / 2 * jitter


def signing_secrets(webhook: Webhook, now: float) -> list[str]:
    """The current secret, and the one it replaced while its overlap lasts."""
    secrets = [webhook.secret]
    expires = webhook.previous_secret_expires_at
    if webhook.previous_secret and expires is not None and expires.timestamp() > now:
        secrets.append(webhook.previous_secret)
    return secrets
