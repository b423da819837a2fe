from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.store.local import LocalStore


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "bucket")
