"""S3Store against a real moto server over HTTP."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from pipeline.store.s3 import S3Store

pytestmark = pytest.mark.aws


def test_put_get_list_delete_under_a_prefix(aws: str) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="lake")
    s3.put_object(Bucket="lake", Key="elsewhere/raw/x", Body=b"not ours")
    store = S3Store("lake", "/percus/")
    store.put("raw/org=b/1.ndjson.gz", b"b1")
    store.put("raw/org=a/2.ndjson.gz", b"a2")
    store.put("raw/org=a/1.ndjson.gz", b"a1")
    store.put("curated/org=a/x.parquet", b"c")
    # The keys land under the prefix, as the layout spells them.
    assert s3.get_object(Bucket="lake", Key="percus/raw/org=a/1.ndjson.gz")["Body"].read() == b"a1"
    assert list(store.list("raw/")) == ["raw/org=a/1.ndjson.gz", "raw/org=a/2.ndjson.gz",
                                        "raw/org=b/1.ndjson.gz"]
    assert list(store.list("raw/org=a/")) == ["raw/org=a/1.ndjson.gz", "raw/org=a/2.ndjson.gz"]
    assert store.get("raw/org=b/1.ndjson.gz") == b"b1"
    store.put("raw/org=b/1.ndjson.gz", b"replaced")
    assert store.get("raw/org=b/1.ndjson.gz") == b"replaced"
    store.delete("raw/org=b/1.ndjson.gz")
    store.delete("raw/org=b/1.ndjson.gz")  # already gone: no error
    with pytest.raises(KeyError):
        store.get("raw/org=b/1.ndjson.gz")
    assert store.local_path("raw/org=a/1.ndjson.gz") is None


def test_list_follows_pages(aws: str) -> None:
    boto3.client("s3").create_bucket(Bucket="paged")
    store = S3Store("paged", page_size=2)
    keys = [f"raw/k{i}" for i in range(7)]
    for key in reversed(keys):
        store.put(key, b"x")
    assert list(store.list("raw/")) == keys


def test_bad_keys_and_missing_buckets_raise(aws: str) -> None:
    store = S3Store("no-such-bucket")
    for key in ("", "/absolute"):
        with pytest.raises(ValueError, match="invalid object key"):
            store.put(key, b"x")
    with pytest.raises(ClientError, match="NoSuchBucket"):
        store.put("raw/x", b"x")
    with pytest.raises(ValueError, match="bucket"):
        S3Store("")
