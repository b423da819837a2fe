"""Fixtures of the pipeline tests."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from pipeline.store.base import Store
from pipeline.store.local import LocalStore
from pipeline.store.s3 import S3Store


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.aws)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """Each store in turn: a LocalStore, then an S3Store on moto server."""
    if request.param == "local":
        return LocalStore(tmp_path / "bucket")
    request.getfixturevalue("aws")
    boto3.client("s3").create_bucket(Bucket="percus-tests")
    return S3Store("percus-tests", "prod")
