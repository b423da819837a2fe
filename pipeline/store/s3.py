"""The AWS store: objects in an S3 bucket, optionally under a key prefix, with the same keys as locally."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

_EXISTS = ("PreconditionFailed", "ConditionalRequestConflict")  # error codes of a conditional PutObject


class S3Store:
    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None, page_size: int = 1000) -> None:
        if not bucket:
            raise ValueError("an S3 store needs a bucket name")
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.page_size = page_size
        self._client = client if client is not None else boto3.client(
            # SigV4 also for presigned URLs: S3 refuses SigV2 on buckets made since mid-2020.
            "s3", config=Config(retries={"mode": "standard", "max_attempts": 3}, signature_version="s3v4")
        )

    def _key(self, key: str) -> str:
        if not key or key.startswith("/"):
            raise ValueError(f"invalid object key {key!r}")
        return self.prefix + key

    def put(self, key: str, data: bytes) -> None:
        # A single PutObject is atomic: readers see the old object or the new one.
        self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def create(self, key: str, data: bytes) -> None:
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*")
        except ClientError as exc:
            # 409 ConditionalRequestConflict: another conditional write of the key is under way.
            if exc.response.get("Error", {}).get("Code") in _EXISTS:
                raise FileExistsError(key) from None
            raise

    def put_file(self, key: str, path: Path) -> None:
        # upload_file switches to a multipart upload for large files; S3 publishes it whole at the end.
        self._client.upload_file(str(path), self.bucket, self._key(key))

    def get(self, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise KeyError(key) from None
            raise
        return cast(bytes, response["Body"].read())  # boto3 is untyped: a StreamingBody

    def list(self, prefix: str) -> Iterator[str]:
        # S3 lists keys in UTF-8 binary order, the same lexicographic order as LocalStore.
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix, PaginationConfig={"PageSize": self.page_size}
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix) :]

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def local_path(self, key: str) -> Path | None:
        return None

    def download_url(self, key: str, expires_in: int) -> str | None:
        return cast(str, self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires_in))
