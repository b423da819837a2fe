"""The embedded default's mailer: each message becomes a folder under `<data dir>/outbox/`.

A folder holds `message.eml` (the whole MIME message, as SES would have received it),
`envelope.json` (sender, recipients, subject, date, attachment names) and each attachment as a file.
It is written beside and renamed into place, so a reader never sees half a message. Whatever
picks mail up from there (a cron job with sendmail, a person) reads the envelope.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from pipeline import files
from pipeline.mail.base import recipients_of


class OutboxMailer:
    name = "outbox"

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    def send(self, message: EmailMessage) -> str:
        folder = f"{datetime.now(UTC):%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex[:12]}"
        tmp = self.directory / f".{folder}.tmp"
        files.make_dirs(tmp)
        try:
            attachments: list[str] = []
            for part in message.iter_attachments():
                name = Path(part.get_filename() or f"attachment-{len(attachments) + 1}").name
                files.write(tmp / name, part.get_content())
                attachments.append(name)
            files.write(tmp / "message.eml", message.as_bytes())
            envelope = {"from": message["From"], "to": recipients_of(message), "subject": message["Subject"],
                        "date": message["Date"], "message_id": message["Message-ID"],
                        "attachments": attachments}
            files.write(tmp / "envelope.json",
                        (json.dumps(envelope, indent=2, ensure_ascii=False) + "\n").encode())
            os.replace(tmp, self.directory / folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder
