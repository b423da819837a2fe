"""Configuration picks the queue and the store in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.backends import open_queue, open_store
from pipeline.config import Settings, load_settings
from pipeline.queue.local import LocalQueue
from pipeline.queue.sqs import SqsQueue
from pipeline.store.local import LocalStore
from pipeline.store.s3 import S3Store


def settings(data_dir: Path, **env: str) -> Settings:
    return load_settings({"PERCUS_DATA_DIR": str(data_dir), "PERCUS_TOKEN_KEYS": "k1:secret", **env})


def test_embedded_default_is_a_local_queue_and_store_in_the_data_dir(data_dir: Path) -> None:
    config = load_settings()
    queue = open_queue(config)
    try:
        assert isinstance(queue, LocalQueue)
        assert queue.directory == data_dir.resolve() / "queue"
    finally:
        queue.close()
    store = open_store(config)
    assert isinstance(store, LocalStore)
    assert store.root == data_dir.resolve() / "bucket"


def test_the_local_queue_rolls_its_segments_hourly_unless_configured(tmp_path: Path) -> None:
    for env, age in [({}, 3600), ({"PERCUS_QUEUE_SEGMENT_MAX_AGE": "60"}, 60)]:
        queue = open_queue(settings(tmp_path, **env))
        assert isinstance(queue, LocalQueue) and queue.segment_max_age == age
        queue.close()
    for value in ["0", "-5", "an hour", "nan"]:
        with pytest.raises(ValueError, match="PERCUS_QUEUE_SEGMENT_MAX_AGE must be a number of seconds"):
            settings(tmp_path, PERCUS_QUEUE_SEGMENT_MAX_AGE=value)


def test_aws_urls_choose_sqs_and_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/percus-events"
    config = settings(tmp_path, PERCUS_QUEUE=url, PERCUS_STORE="s3://percus-analytics/prod/v1")
    queue = open_queue(config)
    assert isinstance(queue, SqsQueue) and queue.queue_url == url
    assert queue._client.meta.region_name == "eu-west-1"  # taken from the URL when none is configured
    queue.close()
    store = open_store(config)
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix) == ("percus-analytics", "prod/v1/")


def test_file_store_at_any_directory(tmp_path: Path) -> None:
    store = open_store(settings(tmp_path, PERCUS_STORE=f"file://{tmp_path / 'elsewhere'}"))
    assert isinstance(store, LocalStore) and store.root == tmp_path / "elsewhere"


@pytest.mark.parametrize("value", ["sqs", "kafka://broker", ""])
def test_unknown_queue_is_a_clear_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError, match="PERCUS_QUEUE must be 'local' or an SQS queue URL"):
        open_queue(settings(tmp_path, PERCUS_QUEUE=value))


@pytest.mark.parametrize("value", ["s3://", "s3:///prefix", "file://", "gs://bucket", "/var/data"])
def test_unknown_store_is_a_clear_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError, match="PERCUS_STORE must be file://<directory> or s3://bucket"):
        open_store(settings(tmp_path, PERCUS_STORE=value))
