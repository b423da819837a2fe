"""The mailers: one composed message, kept whole in the outbox or sent raw through SES (moto server)."""

from __future__ import annotations

import email
import email.policy
import json
from email.message import EmailMessage
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from pipeline.backends import open_mailer
from pipeline.config import load_settings
from pipeline.mail.base import MAX_RECIPIENTS, compose, recipients_of
from pipeline.mail.outbox import OutboxMailer
from pipeline.mail.ses import SesMailer

SENDER = "Percus analytics <digest@percus.example>"


def message(recipients: list[str] | None = None) -> EmailMessage:
    return compose(SENDER, recipients or ["ana@acme.example"], "Weekly digest", "Attached.\n",
                   ("digest.pdf", b"%PDF-1.7 fake", "application/pdf"))


def test_compose_checks_the_addresses() -> None:
    composed = message(["ana@acme.example", "bo@acme.example"])
    assert recipients_of(composed) == ["ana@acme.example", "bo@acme.example"]
    assert composed["Message-ID"].endswith("@percus.example>")
    for bad in (["nobody"], ["a@b"], ["ana@acme.example, eve@evil.example"], ["ana @acme.example"]):
        with pytest.raises(ValueError, match="not an e-mail address"):
            message(bad)
    with pytest.raises(ValueError, match="at least one recipient"):
        compose(SENDER, [], "s", "t")
    with pytest.raises(ValueError, match=f"at most {MAX_RECIPIENTS}"):
        message([f"r{n}@acme.example" for n in range(MAX_RECIPIENTS + 1)])


def test_the_outbox_keeps_each_message_whole_in_its_own_folder(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path / "outbox", SENDER)
    first, second = mailer.send(message()), mailer.send(message(["bo@acme.example"]))
    assert first != second
    assert sorted(path.name for path in (tmp_path / "outbox").iterdir()) == sorted([first, second])
    folder = tmp_path / "outbox" / first
    assert sorted(path.name for path in folder.iterdir()) == ["digest.pdf", "envelope.json", "message.eml"]
    assert (folder / "digest.pdf").read_bytes() == b"%PDF-1.7 fake"
    envelope = json.loads((folder / "envelope.json").read_text())
    assert (envelope["from"], envelope["to"], envelope["subject"]) == (SENDER, ["ana@acme.example"],
                                                                       "Weekly digest")
    parsed = email.message_from_bytes((folder / "message.eml").read_bytes(), policy=email.policy.default)
    assert parsed["To"] == "ana@acme.example"


def test_a_message_that_cannot_be_written_leaves_nothing_behind(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    mailer = OutboxMailer(tmp_path / "outbox", SENDER)

    def full_disk(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pipeline.mail.outbox.os.replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        mailer.send(message())
    assert list((tmp_path / "outbox").iterdir()) == []  # neither a folder nor its temporary copy


def test_attachment_names_cannot_leave_their_folder(tmp_path: Path) -> None:
    sneaky = message()
    sneaky.add_attachment(b"x", maintype="application", subtype="octet-stream", filename="../../escape")
    folder = OutboxMailer(tmp_path / "outbox", SENDER).send(sneaky)
    assert (tmp_path / "outbox" / folder / "escape").read_bytes() == b"x"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["outbox"]


def test_the_mailer_is_chosen_from_configuration(tmp_path: Path) -> None:
    base = {"PERCUS_DATA_DIR": str(tmp_path), "PERCUS_TOKEN_KEYS": "k1:secret"}
    outbox = open_mailer(load_settings(base))
    assert isinstance(outbox, OutboxMailer) and outbox.directory == tmp_path.resolve() / "outbox"
    with pytest.raises(ValueError, match="PERCUS_MAIL=ses needs PERCUS_MAIL_FROM"):
        open_mailer(load_settings({**base, "PERCUS_MAIL": "ses"}))
    with pytest.raises(ValueError, match="PERCUS_MAIL must be 'outbox' or 'ses'"):
        open_mailer(load_settings({**base, "PERCUS_MAIL": "smtp"}))


@pytest.mark.aws
def test_ses_sends_the_raw_message_from_a_verified_sender(aws: str) -> None:
    ses = boto3.client("ses")
    ses.verify_email_identity(EmailAddress="digest@percus.example")
    settings = load_settings({"PERCUS_MAIL": "ses", "PERCUS_MAIL_FROM": SENDER, "PERCUS_TOKEN_KEYS": "k:s"})
    mailer = open_mailer(settings)
    assert isinstance(mailer, SesMailer)
    message_id = mailer.send(message(["ana@acme.example", "bo@acme.example"]))
    (raw,) = httpx.get(f"{aws}/moto-api/data.json", timeout=10).json()["ses"]["RawMessage"]
    assert raw["id"] == message_id and raw["source"] == SENDER
    assert set(raw["destinations"]) == {"ana@acme.example", "bo@acme.example"}
    parsed = email.message_from_bytes(raw["raw_data"].encode(), policy=email.policy.default)
    (attachment,) = parsed.iter_attachments()
    assert attachment.get_content() == b"%PDF-1.7 fake"
    assert ses.get_send_quota()["SentLast24Hours"] >= 1


@pytest.mark.aws
def test_ses_refuses_an_unverified_sender(aws: str) -> None:
    with pytest.raises(ClientError, match="MessageRejected"):
        SesMailer("someone@unverified.example", client=boto3.client("ses")).send(message())
