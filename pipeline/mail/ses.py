"""The AWS mailer: Amazon SES `SendRawEmail`, so the attachment travels in the MIME message.

The sender must be an identity verified in SES (PERCUS_MAIL_FROM; the stack's DigestSender).
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import boto3

from pipeline.mail.base import recipients_of


class SesMailer:
    name = "ses"

    def __init__(self, sender: str, *, client: Any = None) -> None:
        self.sender = sender
        self.client = client if client is not None else boto3.client("ses")

    def send(self, message: EmailMessage) -> str:
        response = self.client.send_raw_email(Source=self.sender, Destinations=recipients_of(message),
                                              RawMessage={"Data": message.as_bytes()})
        return str(response["MessageId"])
