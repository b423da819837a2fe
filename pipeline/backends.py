"""The one place that turns configuration into a queue, a store and a mailer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import DEFAULT_MAIL_FROM, Settings

if TYPE_CHECKING:
    from pipeline.mail.base import Mailer
    from pipeline.queue.base import Queue
    from pipeline.store.base import Store

# Each backend is imported only when configured: the embedded default never loads boto3, and the
# ingest Lambda (bench/coldstart.py) never loads the local queue, store or mail.


def open_queue(settings: Settings, *, sends: bool = True, receives: bool = True,
               sole_sender: bool = True) -> Queue:
    """PERCUS_QUEUE: `local` (a durable log in the data dir) or an SQS queue URL. A local queue may be
    opened for one side only, the other being other processes' (`percus serve`'s writer process, its
    gateway workers: not the `sole_sender`)."""
    value = settings.queue
    if value == "local":
        from pipeline.queue.local import LocalQueue

        return LocalQueue(settings.data_dir / "queue", segment_max_age=settings.queue_segment_max_age,
                          sends=sends, receives=receives, sole_sender=sole_sender)
    if value.startswith(("https://", "http://")):
        from pipeline.queue.sqs import SqsQueue

        return SqsQueue(value)
    raise ValueError(f"PERCUS_QUEUE must be 'local' or an SQS queue URL (https://sqs.…), got {value!r}")


def open_store(settings: Settings) -> Store:
    """PERCUS_STORE: `file://<directory>` or `s3://bucket[/prefix]`."""
    value = settings.store
    if value.startswith("file://") and value[len("file://") :]:
        from pipeline.store.local import LocalStore

        return LocalStore(Path(value[len("file://") :]))
    bucket, _, prefix = value[len("s3://") :].partition("/")
    if value.startswith("s3://") and bucket:
        from pipeline.store.s3 import S3Store

        return S3Store(bucket, prefix)
    raise ValueError(f"PERCUS_STORE must be file://<directory> or s3://bucket[/prefix], got {value!r}")


def open_mailer(settings: Settings) -> Mailer:
    """PERCUS_MAIL: `outbox` (a folder per message under `<data dir>/outbox/`) or `ses` (Amazon SES,
    from PERCUS_MAIL_FROM, which must then be an identity verified in SES)."""
    if settings.mail == "outbox":
        from pipeline.mail.outbox import OutboxMailer

        return OutboxMailer(settings.data_dir / "outbox", settings.mail_from)
    if settings.mail == "ses":
        from pipeline.mail.ses import SesMailer

        if settings.mail_from == DEFAULT_MAIL_FROM:
            raise ValueError("PERCUS_MAIL=ses needs PERCUS_MAIL_FROM: an address or domain verified in SES")

        return SesMailer(settings.mail_from)
    raise ValueError(f"PERCUS_MAIL must be 'outbox' or 'ses', got {settings.mail!r}")
