"""A gateway over the real local durable queue, driven in-process with Starlette's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.middleware.rate_limit import RateLimits
from pipeline.config import Settings, load_settings
from pipeline.queue.local import LocalQueue
from tests.gateway._client import TOKEN_KEYS, Gateway


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"PERCUS_DATA_DIR": str(tmp_path / "data"), "PERCUS_TOKEN_KEYS": TOKEN_KEYS})


@pytest.fixture
def queue(settings: Settings) -> Iterator[LocalQueue]:
    local = LocalQueue(settings.data_dir / "queue")
    yield local
    local.close()


@pytest.fixture
def gateway(settings: Settings, queue: LocalQueue) -> Iterator[Gateway]:
    with TestClient(create_app(settings, queue, rate_limits=RateLimits())) as client:
        yield Gateway(client, queue, settings)
