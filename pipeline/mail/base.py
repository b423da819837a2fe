"""The mailer protocol and the one way a message is composed, so the outbox holds what SES would send."""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import Protocol

MAX_RECIPIENTS = 50  # SES takes at most 50 destinations per message
# Deliberately plain: one @, no spaces or separators, a dot in the domain. SES checks the rest.
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\".]+$")


class Mailer(Protocol):
    name: str  # "outbox" or "ses": how a message left, for the audit log
    sender: str  # the From address

    def send(self, message: EmailMessage) -> str:
        """Deliver a composed message to its To recipients; returns an id (SES MessageId, outbox folder)."""


def check_address(address: str) -> str:
    address = address.strip()
    if len(address) > 254 or not _ADDRESS.fullmatch(address):
        raise ValueError(f"{address!r} is not an e-mail address (name@example.com)")
    return address


def compose(sender: str, recipients: Sequence[str], subject: str, text: str,
            attachment: tuple[str, bytes, str] | None = None) -> EmailMessage:
    """A message with a plain-text body and at most one attachment: (filename, data, MIME type)."""
    if not recipients:
        raise ValueError("a message needs at least one recipient")
    if len(recipients) > MAX_RECIPIENTS:
        raise ValueError(f"at most {MAX_RECIPIENTS} recipients per message, got {len(recipients)}")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(check_address(address) for address in recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or "percus.invalid")
    message.set_content(text)
    if attachment is not None:
        filename, data, mime_type = attachment
        maintype, _, subtype = mime_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


def recipients_of(message: EmailMessage) -> list[str]:
    return [address for _, address in getaddresses(message.get_all("To", []))]
