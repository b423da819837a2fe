"""The weekly PDF digest: a real PDF from known sessions, read back with poppler (pdftoppm, pdftotext);
its numbers are the reports API's; delivery to the outbox and through SES on moto; the schedule of
`percus serve` and the Lambda send a week once per opted-in organization and never to the others.

acme, 2026-W48 (23-29 November): the known sessions of tests/pipeline/_sessions.py: views 9, unique
viewers 8, plays 7, completion 3/7 = 42.9 %, CTA click-through 1/9 = 11.1 %, drop-off 6/4/3/3 of 7
plays (85.7/57.1/42.9/42.9 %), devices desktop 8 / mobile 1, locales es-CL 8 / en-US 1.
acme, 2026-W47 (the week before): WEEK_BEFORE below: views 3, unique viewers 3, plays 2,
completion 1/2 = 50.0 %, no CTA click (0.0 %). So the changes are +200 %, +167 %, -7.1 pp, +11.1 pp.
"""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from PIL import Image

from percus.background import DIGEST_EVERY, PipelineLoop, digest_step
from pipeline.governance import audit
from pipeline.governance.key_ring import KeyRing
from pipeline.governance.registry import OrganizationRegistry
from pipeline.lambdas import digest as digest_lambda
from pipeline.mail.outbox import OutboxMailer
from pipeline.mail.ses import SesMailer
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.reporting import digest, reports
from pipeline.reporting.digest import Week
from pipeline.reporting.rollups import build_rollups
from pipeline.reporting.selection import Selection
from pipeline.store.base import Store
from pipeline.store.local import LocalStore
from pipeline.store.s3 import S3Store
from tests.pipeline._impossible_rows import make_impossible
from tests.pipeline._platform import describe
from tests.pipeline._sessions import Session, ingest, known_sessions

W48, W47 = Week(2026, 48), Week(2026, 47)
TODAY = date(2026, 12, 2)  # both weeks' days are closed
AFTER_W48 = datetime(2026, 12, 2, 9, tzinfo=UTC)
SENDER = "Percus analytics <digest@percus.example>"
ACCENT = (0x3E, 0x63, 0xDD)  # the drop-off bars' colour in templates/digest.html


def week_before() -> list[Session]:
    at = datetime(2026, 11, 17, 9, tzinfo=UTC)
    return [
        Session(at).at(0, "session.started").at(1, "video.played", position_ms=0)
        .at(20, "video.completed", duration_ms=20_000, percent=100),
        Session(at + timedelta(hours=1), device=("mobile", "Android", "Chrome Mobile"), locale="pt-BR")
        .at(0, "session.started").at(1, "video.played", position_ms=0)
        .at(5, "video.incomplete", duration_ms=20_000, percent=20),
        Session(at + timedelta(hours=2)).at(0, "session.started"),
    ]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both weeks compacted, W47 rolled up, W48 left to curated (reports mix both)."""
    root = tmp_path_factory.mktemp("digest") / "bucket"
    store = LocalStore(root)
    sessions, duplicates = known_sessions()
    ingest(store, [*sessions, *week_before()], duplicates)
    describe(store, "acme", projects={"p1": "Renewals", "p2": "Pensions"}, archived=["p2"])
    for day in range(16, 23):
        build_rollups(store, day=date(2026, 11, day))
    return root


@pytest.fixture
def store(scenario: Path, tmp_path: Path) -> LocalStore:
    shutil.copytree(scenario, tmp_path / "bucket")
    return LocalStore(tmp_path / "bucket")


def opt_in(store: Store, org: str = "acme", recipients: tuple[str, ...] = ("ana@acme.example",
                                                                           "bo@acme.example")) -> None:
    registry = OrganizationRegistry(store, cache_seconds=0, actor="test")
    if registry.get(org) is None:
        registry.create(org)
    registry.set_digest(org, enabled=True, recipients=list(recipients))


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "digest.pdf"
    path.write_bytes(pdf)
    # -raw: the text in the order it was drawn, which is the HTML's (columns do not interleave).
    return subprocess.run(["pdftotext", "-raw", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def pdf_pages_as_png(pdf: bytes, tmp_path: Path) -> list[Path]:
    path = tmp_path / "digest.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "page")], check=True)
    return sorted(tmp_path.glob("page*.png"))


def near(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 8 for a, b in zip(pixel[:3], colour, strict=True))


def test_the_pdf_is_one_page_with_the_numbers_the_chart_and_the_headings(store: LocalStore,
                                                                         tmp_path: Path) -> None:
    made = digest.build(DuckDbEngine(store), "acme", W48, today=TODAY, now=AFTER_W48)
    assert made.pdf.startswith(b"%PDF-") and made.pages == 1

    pages = pdf_pages_as_png(made.pdf, tmp_path)
    assert len(pages) == 1
    with Image.open(pages[0]) as image:
        width, height = image.size
        assert height > width  # A4 portrait
        colours = image.convert("RGB").getcolors(maxcolors=width * height) or []
    assert sum(n for n, colour in colours if near(colour, ACCENT)) > 500  # the drop-off bars were drawn

    text = " ".join(pdf_text(made.pdf, tmp_path).split())
    for expected in ("WEEKLY DIGEST", "acme", "Week 48 of 2026 (2026-W48): 23 November – 29 November 2026",
                     "VIEWS", "UNIQUE VIEWERS", "COMPLETION RATE", "CTA CLICK-THROUGH",
                     "Drop-off", "Top devices", "Top locales", "Of 7 plays"):
        assert expected in text, expected
    # The headline tiles: value, change, the week before.
    for expected in ("VIEWS 9 +200 % (3 the week before)", "UNIQUE VIEWERS 8 +167 % (3 the week before)",
                     "COMPLETION RATE 42.9 % -7.1 pp (50.0 % the week before)",
                     "CTA CLICK-THROUGH 11.1 % +11.1 pp (0.0 % the week before)"):
        assert expected in text, expected
    # The chart's values and labels (SVG text, column by column), in one unit: all plays started, then
    # the share of them reaching each milestone; then the axis, in percent of plays.
    assert ("100.0 % Started 85.7 % 25 % 57.1 % 50 % 42.9 % 75 % 42.9 % 100 % 0 % 25 % 50 % 75 % 100 % "
            "of plays") in text
    assert "desktop 8 88.9 % 50.0 %" in text and "mobile 1 11.1 % 0.0 %" in text
    assert "es-CL 8 88.9 % 50.0 %" in text and "en-US 1 11.1 % 0.0 %" in text
    # The week's projects by name, an archived one too (its views are in the totals).
    assert "Top projects" in text
    # Column headers worded as the dashboard and the command line word the metric.
    assert "PROJECT VIEWS PLAYS COMPLETION RATE" in text and "VIEWS SHARE COMPLETION RATE" in text
    assert "Renewals (p1) 8 6 33.3 %" in text and "Pensions (p2), archived 1 1 100.0 %" in text
    assert "No views in this week" not in text


def test_the_numbers_are_the_reports_api_s(store: LocalStore) -> None:
    engine = DuckDbEngine(store)
    figures = digest.gather(engine, "acme", W48, today=TODAY)
    days = Selection(date_from=date(2026, 11, 23), date_to=date(2026, 11, 29))
    assert figures.summary == reports.summary(engine, "acme", days, today=TODAY)
    assert figures.dropoff == reports.dropoff(engine, "acme", days, today=TODAY)
    assert figures.devices == reports.breakdown(engine, "acme", "device_type", days, today=TODAY)
    assert figures.locales == reports.breakdown(engine, "acme", "locale", days, today=TODAY)
    week_before = Selection(date_from=date(2026, 11, 16), date_to=date(2026, 11, 22))
    assert figures.previous == reports.summary(engine, "acme", week_before, today=TODAY)
    assert list(figures.projects) == reports.projects(engine, "acme", days, include_archived=True,
                                                      today=TODAY)["projects"]
    assert ("Top projects:\n  Renewals (p1): 8 views, completion rate 33.3 %\n"
            "  Pensions (p2), archived: 1 views, completion rate 100.0 %\n") in digest.text_body(figures)
    assert (figures.summary["views"], figures.summary["unique_viewers"], figures.summary["completion_rate"],
            figures.summary["cta_ctr"]) == (9, 8, round(3 / 7, 6), round(1 / 9, 6))
    assert (figures.previous["views"], figures.previous["completion_rate"], figures.previous["cta_ctr"]) == (
        3, 0.5, 0.0)
    build_rollups(store, today=TODAY)  # the same numbers once W48 is rolled up too
    assert digest.gather(engine, "acme", W48, today=TODAY) == figures


def test_a_stored_row_no_python_datetime_holds_does_not_stop_the_digest(store: LocalStore,
                                                                      tmp_path: Path) -> None:
    late = Session(datetime(2026, 11, 26, 9, tzinfo=UTC)).at(0, "session.started").at(
        1, "video.played", position_ms=0)
    ingest(store, [late])
    make_impossible(store, "acme", datetime(2026, 11, 26, 9), late.events[1]["event_id"])  # year -7972
    for day in range(23, 30):  # W48 rolled up too, through the same rows
        build_rollups(store, day=date(2026, 11, day))
    made = digest.build(DuckDbEngine(store), "acme", W48, today=TODAY, now=AFTER_W48)
    assert made.pdf.startswith(b"%PDF-") and made.pages == 1
    # The week's numbers as before: a session is dated by its earliest event, here 9,998 years back.
    assert (made.figures.summary["views"], made.figures.summary["plays"]) == (9, 7)
    assert "VIEWS 9 +200 % (3 the week before)" in " ".join(pdf_text(made.pdf, tmp_path).split())


def test_a_week_without_views_is_still_a_pdf_that_says_so(store: LocalStore, tmp_path: Path) -> None:
    made = digest.build(DuckDbEngine(store), "acme", Week(2026, 40), today=TODAY, now=AFTER_W48)
    assert made.pages == 1 and not made.figures.has_views
    assert len(pdf_pages_as_png(made.pdf, tmp_path)) == 1
    text = " ".join(pdf_text(made.pdf, tmp_path).split())
    assert "No views in this week." in text and "2026-W40" in text
    assert "No plays in this week." in text and "No views." in text
    assert "no data the week before" in text


@pytest.mark.parametrize(("text", "message"), [
    ("2026-48", "YYYY-Www"), ("W48", "YYYY-Www"), ("2026-W5", "YYYY-Www"), ("2026-W00", "no ISO week 00"),
    ("2025-W53", "2025 has no ISO week 53"), ("", "YYYY-Www")])
def test_malformed_weeks_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(digest.DigestError, match=message):
        Week.parse(text)


def test_weeks_are_iso_weeks_of_utc_days() -> None:
    assert Week.parse("2026-W53") == Week(2026, 53)  # 2026 is a long year
    assert (W48.monday, W48.sunday, W48.previous, str(W48)) == (date(2026, 11, 23), date(2026, 11, 29),
                                                                W47, "2026-W48")
    assert Week(2027, 1).previous == Week(2026, 53)
    assert Week.last_complete(datetime(2026, 11, 29, 23, 59, tzinfo=UTC)) == W47
    assert Week.last_complete(datetime(2026, 11, 30, 0, 0, tzinfo=UTC)) == W48
    # The schedule waits until Monday 07:00 UTC.
    assert digest.due_week(datetime(2026, 11, 30, 6, 59, tzinfo=UTC)) == W47
    assert digest.due_week(datetime(2026, 11, 30, 7, 0, tzinfo=UTC)) == W48


def test_a_week_not_over_yet_is_refused(store: LocalStore) -> None:
    with pytest.raises(digest.DigestError, match="2026-W49 is not over until 2026-12-07"):
        digest.build(DuckDbEngine(store), "acme", Week(2026, 49), now=AFTER_W48)


def outbox(path: Path) -> list[dict[str, Any]]:
    return [json.loads((folder / "envelope.json").read_text()) for folder in sorted(path.iterdir())]


def test_delivery_to_the_outbox_is_a_message_with_the_pdf_recorded_without_addresses(
        store: LocalStore, tmp_path: Path) -> None:
    opt_in(store)
    mailer = OutboxMailer(tmp_path / "outbox", SENDER)
    sent = digest.send(store, DuckDbEngine(store), mailer, "acme", W48, actor="cli:test", today=TODAY,
                       now=AFTER_W48)
    (folder,) = (tmp_path / "outbox").iterdir()
    assert folder.name == sent.message_id
    envelope = json.loads((folder / "envelope.json").read_text())
    assert envelope["from"] == SENDER
    assert envelope["to"] == ["ana@acme.example", "bo@acme.example"]
    assert envelope["subject"] == "Percus weekly digest: acme, 2026-W48 (23 November – 29 November 2026)"
    assert envelope["attachments"] == ["percus-digest-acme-2026-W48.pdf"]
    pdf = (folder / "percus-digest-acme-2026-W48.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and len(pdf) == sent.bytes
    message = email.message_from_bytes((folder / "message.eml").read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    (attachment,) = message.iter_attachments()
    assert attachment.get_content_type() == "application/pdf" and attachment.get_content() == pdf
    body = message.get_body(("plain",))
    assert body is not None and "Views: 9 (week before: 3, change: +200 %)" in body.get_content()

    (record,) = audit.list_records(store, action="digest")
    assert record["action"] == "digest.sent" and record["actor"] == "cli:test"
    assert record["scope"] == {"organization_id": "acme", "week": "2026-W48"}
    assert record["details"]["recipients"] == 2 and record["details"]["delivery"] == "outbox"
    everything = "\n".join(store.get(key).decode() for key in store.list("audit/"))
    assert "@" not in everything  # neither the digest nor the settings change names an address
    assert digest.sent_record(store, "acme", W48)["recipients"] == 2


def test_sending_needs_an_opt_in(store: LocalStore, tmp_path: Path) -> None:
    registry = OrganizationRegistry(store, cache_seconds=0)
    registry.create("acme")
    mailer = OutboxMailer(tmp_path / "outbox", SENDER)
    with pytest.raises(digest.DigestError, match="has not opted in"):
        digest.send(store, DuckDbEngine(store), mailer, "acme", W48, actor=None, now=AFTER_W48)
    with pytest.raises(ValueError, match="unknown organization 'nobody'"):
        digest.send(store, DuckDbEngine(store), mailer, "nobody", W48, actor=None, now=AFTER_W48)
    assert not (tmp_path / "outbox").exists()


def test_digest_settings_go_through_the_audited_update(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    registry = OrganizationRegistry(store, cache_seconds=0, actor="cli:test")
    registry.create("acme")
    with pytest.raises(ValueError, match="needs a recipient"):
        registry.set_digest("acme", enabled=True, recipients=[])
    with pytest.raises(ValueError, match="not an e-mail address"):
        registry.set_digest("acme", enabled=True, recipients=["ana@acme.example", "nobody"])
    registry.set_digest("acme", enabled=True, recipients=["ana@acme.example", "ana@acme.example",
                                                          "bo@acme.example"])
    assert registry.require("acme").digest.recipients == ["ana@acme.example", "bo@acme.example"]
    registry.set_digest("acme", enabled=False)  # opting out keeps the list for a later opt-in
    assert registry.require("acme").digest.model_dump() == {
        "enabled": False, "recipients": ["ana@acme.example", "bo@acme.example"]}
    changes = [record["details"] for record in audit.list_records(store, action="org.settings_changed")]
    assert changes == [
        {"digest_enabled": True, "digest_recipients": 2, "previous_digest_enabled": False,
         "previous_digest_recipients": 0},
        {"digest_enabled": False, "digest_recipients": 2, "previous_digest_enabled": True,
         "previous_digest_recipients": 2}]


def test_the_schedule_sends_each_week_once_per_opted_in_organization(store: LocalStore,
                                                                    tmp_path: Path) -> None:
    opt_in(store, "acme")
    opt_in(store, "globex", ("gus@globex.example",))
    registry = OrganizationRegistry(store, cache_seconds=0)
    registry.set_digest("globex", enabled=False)  # opted out again: never sent
    registry.create("initech")  # never opted in
    mailer = OutboxMailer(tmp_path / "outbox", SENDER)
    engine = DuckDbEngine(store)

    first = digest.send_due(store, engine, mailer, W48, actor="serve", today=TODAY, now=AFTER_W48)
    again = digest.send_due(store, engine, mailer, W48, actor="serve", today=TODAY, now=AFTER_W48)
    assert [sent.organization_id for sent in first.sent] == ["acme"]
    assert (first.already_sent, first.failed) == ([], {})
    assert (again.sent, again.already_sent) == ([], ["acme"])
    earlier = digest.send_due(store, engine, mailer, W47, actor="serve", today=TODAY, now=AFTER_W48)
    assert [sent.organization_id for sent in earlier.sent] == ["acme"]

    subjects = [envelope["subject"] for envelope in outbox(tmp_path / "outbox")]
    assert sorted(subjects) == sorted(f"Percus weekly digest: acme, {week}" + days for week, days in (
        ("2026-W48", " (23 November – 29 November 2026)"), ("2026-W47", " (16 November – 22 November 2026)")))
    sent = [(record["scope"]["organization_id"], record["scope"]["week"], record["details"]["trigger"])
            for record in audit.list_records(store, action="digest")]
    assert sorted(sent) == [("acme", "2026-W47", "schedule"), ("acme", "2026-W48", "schedule")]


def test_the_serve_step_sends_from_monday_07_00_utc_once(store: LocalStore, tmp_path: Path) -> None:
    opt_in(store)
    clock = [datetime(2026, 11, 30, 6, 55, tzinfo=UTC)]
    step = digest_step(OutboxMailer(tmp_path / "outbox", SENDER), clock=lambda: clock[0])

    def weeks() -> list[str]:
        return sorted(envelope["subject"].split(", ")[1][:8] for envelope in outbox(tmp_path / "outbox"))

    step(store)  # Monday 06:55: W48 is not due yet; W47 is, and was never sent
    assert weeks() == ["2026-W47"]
    clock[0] = datetime(2026, 11, 30, 7, 5, tzinfo=UTC)
    step(store)  # W48 is due, but this is within DIGEST_EVERY of the last look: not yet
    assert weeks() == ["2026-W47"]
    clock[0] = datetime(2026, 11, 30, 6, 55, tzinfo=UTC) + DIGEST_EVERY
    step(store)
    assert weeks() == ["2026-W47", "2026-W48"]
    for hours in (1, 30, 100):  # the rest of the week: nothing new
        clock[0] = datetime(2026, 11, 30, 7, 5, tzinfo=UTC) + timedelta(hours=hours)
        step(store)
    assert weeks() == ["2026-W47", "2026-W48"]


def test_serve_s_loop_has_the_digest_step_when_given_a_mailer(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    with_mail = PipelineLoop(store, mailer=OutboxMailer(tmp_path / "outbox", SENDER))
    assert [step.__name__ for step in with_mail.steps][-1] == "digest_step"
    assert "digest_step" not in [step.__name__ for step in PipelineLoop(store).steps]


def test_one_failing_organization_does_not_stop_the_others(store: LocalStore, tmp_path: Path) -> None:
    opt_in(store, "acme")
    opt_in(store, "globex", ("gus@globex.example",))

    class Flaky(OutboxMailer):
        def send(self, message: EmailMessage) -> str:
            if "acme" in str(message["Subject"]):
                raise ConnectionError("mail relay down")
            return super().send(message)

    mailer = Flaky(tmp_path / "outbox", SENDER)
    run = digest.send_due(store, DuckDbEngine(store), mailer, W48, actor="serve", today=TODAY, now=AFTER_W48)
    assert [sent.organization_id for sent in run.sent] == ["globex"]
    assert run.failed == {"acme": "ConnectionError: mail relay down"}
    assert digest.sent_record(store, "acme", W48) is None  # retried on the next run
    assert [record["scope"]["organization_id"] for record in audit.list_records(store, action="digest")] == [
        "globex"]


# -- AWS: SES on moto server -------------------------------------------------------------------


def ses_messages(moto_server: str) -> list[dict[str, Any]]:
    """What moto's SES received through SendRawEmail."""
    data = httpx.get(f"{moto_server}/moto-api/data.json", timeout=10).json()
    return list(data.get("ses", {}).get("RawMessage", []))


@pytest.fixture
def s3_store(aws: str, store: LocalStore) -> S3Store:
    """The scenario's objects copied into a moto bucket."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="percus-data")
    bucket = S3Store("percus-data", client=s3)
    for key in store.list(""):
        bucket.put(key, store.get(key))
    return bucket


@pytest.mark.aws
def test_ses_delivery_sends_the_pdf_as_a_mime_attachment(aws: str, s3_store: S3Store) -> None:
    opt_in(s3_store)
    ses = boto3.client("ses")
    ses.verify_email_identity(EmailAddress="digest@percus.example")
    sent = digest.send(s3_store, DuckDbEngine(s3_store), SesMailer(SENDER, client=ses), "acme", W48,
                       actor="lambda:test", today=TODAY, now=AFTER_W48)

    (raw,) = ses_messages(aws)
    assert raw["id"] == sent.message_id and raw["source"] == SENDER
    assert set(raw["destinations"]) == {"ana@acme.example", "bo@acme.example"}  # moto lists them twice
    message = email.message_from_bytes(raw["raw_data"].encode(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"].startswith("Percus weekly digest: acme, 2026-W48")
    (attachment,) = message.iter_attachments()
    assert attachment.get_filename() == "percus-digest-acme-2026-W48.pdf"
    assert attachment.get_content().startswith(b"%PDF-")
    (record,) = audit.list_records(s3_store, action="digest")
    assert record["details"]["delivery"] == "ses" and record["details"]["message_id"] == sent.message_id
    assert digest.sent_record(s3_store, "acme", W48) is not None


@pytest.mark.aws
def test_the_weekly_lambda_sends_once_and_fails_loudly_for_an_unsendable_digest(
        aws: str, s3_store: S3Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    opt_in(s3_store, "acme")
    opt_in(s3_store, "globex", ("gus@globex.example",))
    OrganizationRegistry(s3_store, cache_seconds=0).set_digest("globex", enabled=False)
    boto3.client("ses").verify_email_identity(EmailAddress="digest@percus.example")
    monkeypatch.setenv("PERCUS_STORE", "s3://percus-data")
    monkeypatch.setenv("PERCUS_QUERY_ENGINE", "duckdb")  # moto's Athena runs no SQL; the same reports
    monkeypatch.setenv("PERCUS_MAIL", "ses")
    monkeypatch.setenv("PERCUS_MAIL_FROM", SENDER)
    monkeypatch.setenv("PERCUS_DATA_DIR", str(tmp_path / "lambda"))
    monkeypatch.delenv("PERCUS_TOKEN_KEYS", raising=False)
    caches = (digest_lambda.settings, digest_lambda.store, digest_lambda.engine, digest_lambda.mailer)
    for cache in caches:
        cache.cache_clear()
    try:
        scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "time": "2026-11-30T07:00:00Z"}
        result = digest_lambda.handler(scheduled, None)
        assert result == {"week": "2026-W48", "sent": ["acme"], "already_sent": [], "failed": {}}
        assert digest_lambda.handler(scheduled, None)["already_sent"] == ["acme"]  # a retry resends nothing
        assert [set(message["destinations"]) for message in ses_messages(aws)] == [
            {"ana@acme.example", "bo@acme.example"}]
        assert digest_lambda.settings().token_keys == KeyRing(())  # it signs nothing: no key made up
        assert not (tmp_path / "lambda" / "secrets").exists()

        # A sender SES does not know: the invocation fails (Lambda retries it), nothing is recorded.
        monkeypatch.setenv("PERCUS_MAIL_FROM", "someone@unverified.example")
        digest_lambda.mailer.cache_clear()
        digest_lambda.settings.cache_clear()
        with pytest.raises(digest_lambda.DigestsFailed, match=r"\['acme'\] for 2026-W47"):
            digest_lambda.handler({"week": "2026-W47"}, None)
        assert digest.sent_record(s3_store, "acme", W47) is None
        assert len(ses_messages(aws)) == 1
    finally:
        for cache in caches:
            cache.cache_clear()


def test_the_lambda_takes_the_week_from_the_schedule() -> None:
    assert digest_lambda.scheduled_week({"time": "2026-11-30T07:00:00Z"}) == W48
    by_hand = {"time": "2026-11-30T07:00:00Z", "week": "2026-W40"}
    assert digest_lambda.scheduled_week(by_hand) == Week(2026, 40)
    with pytest.raises(digest.DigestError):
        digest_lambda.scheduled_week({"week": "last"})
