"""Object storage with S3 semantics: a local directory or an S3 bucket, same keys."""

from pipeline.store.base import Store

__all__ = ["Store"]
