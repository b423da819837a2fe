"""A webhook's settings: the URLs accepted, and `percus org webhook` setting, rotating and disabling."""

from __future__ import annotations

from pathlib import Path

import pytest

from percus.cli import main
from pipeline.governance import audit
from pipeline.governance.registry import OrganizationRegistry, RegistryError, check_webhook_url
from pipeline.store.local import LocalStore

# -- settings ------------------------------------------------------------------------------------


def test_webhook_urls_are_http_or_https_and_https_unless_loopback() -> None:
    for good in ("https://hooks.example.com/percus?token=abc", "https://93.184.216.34/in"):
        assert check_webhook_url(good) == good
    for good in ("http://127.0.0.1:8080/h", "http://[::1]/h", "http://localhost:9000/"):
        assert check_webhook_url(good, allow_loopback=True) == good
    for bad, message in [("ftp://example.com/x", "must start with https://"),
                         ("example.com/hook", "must start with https://"),
                         ("http://example.com/hook", "must use https://"),
                         ("http://93.184.216.34/hook", "must use https://"),
                         ("https:///path", "has no host"),
                         ("https://example.com:port/", "not a valid URL"),
                         ("https://exa mple.com/", "whitespace"),
                         ("https://169.254.169.254/latest", "metadata"),
                         ("https://x.example/" + "a" * 2048, "at most 2048")]:
        with pytest.raises(RegistryError, match=message):
            check_webhook_url(bad)


def test_cli_sets_a_webhook_printing_its_secret_once_rotates_and_disables_it(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def cli(*argv: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_:
            main(list(argv))
        out, err = capsys.readouterr()
        return int(exit_.value.code or 0), out, err

    assert cli("org", "create", "acme")[0] == 0
    code, _, err = cli("org", "webhook", "acme", "--url", "http://hooks.example.com/in")
    assert code == 2 and "must use https://" in err
    code, out, err = cli("org", "webhook", "acme", "--url", "https://hooks.example.com/in?key=k")
    secret = out.strip()
    assert code == 0 and secret.startswith("whsec_") and len(secret) > 40 and "shown once" in err
    code, out, err = cli("org", "webhook", "acme")
    assert code == 0 and secret not in out + err and "enabled: yes" in out
    code, out, _ = cli("org", "webhook", "acme", "--url", "https://hooks.example.com/v2")
    assert out == "" or secret not in out  # a new URL keeps the secret and does not print it
    code, out, _ = cli("org", "webhook", "acme", "--rotate-secret")
    rotated = out.strip()
    assert code == 0 and rotated.startswith("whsec_") and rotated != secret
    code, out, _ = cli("org", "webhook", "acme", "--disable")
    assert code == 0 and "enabled: no" in out
    assert cli("org", "webhook", "acme", "--disable")[0] == 2  # already disabled

    store = LocalStore(data_dir / "bucket")
    changes = [record["details"]
               for record in audit.list_records(store, org="acme", action="org.settings_changed")]
    assert [change["webhook"] for change in changes] == [["created"], ["url_changed"], ["secret_rotated"],
                                                         ["disabled"]]
    assert {change["webhook_host"] for change in changes} == {"hooks.example.com"}
    audit_bytes = b"".join(store.get(key) for key in store.list("audit/"))
    assert secret.encode() not in audit_bytes and rotated.encode() not in audit_bytes
    assert b"key=k" not in audit_bytes  # the URL's query may hold a credential
    record = OrganizationRegistry(store).require("acme").webhook
    assert record is not None and record.secret == rotated and record.previous_secret == secret
