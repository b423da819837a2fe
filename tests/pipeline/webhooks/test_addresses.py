"""Webhook URLs are refused when set if their host is, or resolves to, an address that is not public,
in every spelling a resolver reads; `allow_loopback` opens loopback and nothing else. (Delivery checks
again when it connects: test_run.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from percus.cli import main
from pipeline.governance.registry import OrganizationRegistry, RegistryError, check_webhook_url
from pipeline.store.local import LocalStore
from tests.pipeline.webhooks.conftest import Dns

INTERNAL = [  # (URL, what the refusal names)
    ("https://169.254.169.254/latest", "metadata"),
    ("https://[::ffff:169.254.169.254]/", "metadata"),  # IPv4-mapped IPv6
    ("https://[::ffff:a9fe:a9fe]/", "metadata"),
    ("https://[64:ff9b::a9fe:a9fe]/", "metadata"),  # NAT64
    ("https://[2002:a9fe:a9fe::1]/", "metadata"),  # 6to4
    ("https://2852039166/", "metadata"),  # decimal
    ("https://0xa9fea9fe/", "metadata"),  # hex
    ("https://0251.0376.0251.0376/", "metadata"),  # octal
    ("https://169.254.43518/", "metadata"),  # short forms
    ("https://169.16689662/", "metadata"),
    ("https://169.254.169.254./", "metadata"),  # a final dot
    ("https://[fd00:ec2::254]/", "metadata"),
    ("https://100.100.100.200/", "metadata"),
    ("https://169.254.1.1/", "link-local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://0.0.0.0:8080/", "unspecified"),
    ("https://0/", "unspecified"),
    ("https://[::]/", "unspecified"),
    ("https://10.0.0.5/internal", "private"),
    ("https://172.16.0.1/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://012.0.0.1/", "private"),  # octal 10.0.0.1
    ("https://[fd12:3456::1]/", "private"),  # IPv6 unique local
    ("https://[fec0::1]/", "private"),  # IPv6 site-local
    ("https://100.64.0.1/", "shared"),  # carrier-grade NAT
    ("https://224.0.0.1/", "multicast"),
    ("https://[ff02::1]/", "multicast"),
    ("https://240.0.0.1/", "reserved"),
    ("https://255.255.255.255/", "reserved"),
    ("https://127.0.0.1/", "loopback"),
    ("https://127.1/", "loopback"),
    ("https://2130706433/", "loopback"),
    ("https://0x7f.1/", "loopback"),
    ("https://[::1]/", "loopback"),
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://localhost/", "loopback"),
    ("https://api.LOCALHOST./", "loopback"),
]


@pytest.mark.parametrize(("url", "kind"), INTERNAL)
def test_an_internal_address_is_refused_in_every_spelling(url: str, kind: str) -> None:
    with pytest.raises(RegistryError, match=f"must point at a public address: .*{kind}"):
        check_webhook_url(url)


@pytest.mark.parametrize(("url", "kind"), INTERNAL)
def test_allow_loopback_opens_loopback_and_nothing_else(url: str, kind: str) -> None:
    if kind == "loopback":
        assert check_webhook_url(url, allow_loopback=True) == url
        assert check_webhook_url(url.replace("https://", "http://"), allow_loopback=True)
    else:
        with pytest.raises(RegistryError, match=kind):
            check_webhook_url(url, allow_loopback=True)


def test_a_name_is_judged_by_every_address_it_resolves_to(dns: Dns) -> None:
    dns.answers.update({"hooks.acme.test": ["93.184.216.34", "2606:2800:220:1::1"],
                "intranet.acme.test": ["10.1.2.3"],
                "split.acme.test": ["93.184.216.34", "192.168.0.10"],
                "metadata.acme.test": ["::ffff:169.254.169.254"],
                "home.acme.test": ["127.0.0.1"]})
    assert check_webhook_url("https://hooks.acme.test/in") == "https://hooks.acme.test/in"
    for name, message in [("intranet", "'intranet.acme.test' is 10.1.2.3, a private address"),
                          ("split", "is 192.168.0.10, a private address"),
                          ("metadata", "the cloud instance metadata address"),
                          ("home", "is 127.0.0.1, a loopback address")]:
        with pytest.raises(RegistryError, match=message):
            check_webhook_url(f"https://{name}.acme.test/in")
    assert check_webhook_url("https://home.acme.test/in", allow_loopback=True)
    with pytest.raises(RegistryError, match="must use https://"):  # http:// is for a loopback host by name
        check_webhook_url("http://home.acme.test/in", allow_loopback=True)
    # A name that does not resolve yet is taken: delivery resolves and checks it when it connects.
    assert check_webhook_url("https://not-yet.invalid/in") == "https://not-yet.invalid/in"


def test_the_registry_keeps_allow_loopback_with_the_url_it_was_given_for(tmp_path: Path) -> None:
    registry = OrganizationRegistry(LocalStore(tmp_path / "bucket"), cache_seconds=0)
    registry.create("acme")
    with pytest.raises(RegistryError, match="loopback"):
        registry.set_webhook("acme", "http://127.0.0.1:9000/in")
    assert registry.get("acme").webhook is None  # type: ignore[union-attr]
    registry.set_webhook("acme", "http://127.0.0.1:9000/in", allow_loopback=True)
    assert registry.require("acme").webhook.allow_loopback  # type: ignore[union-attr]
    registry.rotate_webhook_secret("acme")
    assert registry.require("acme").webhook.allow_loopback  # type: ignore[union-attr]
    registry.set_webhook("acme", "https://93.184.216.34/in")  # a new URL without it: public only
    assert not registry.require("acme").webhook.allow_loopback  # type: ignore[union-attr]


def test_the_cli_refuses_an_internal_url_naming_why_and_takes_allow_loopback(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def cli(*argv: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_:
            main(list(argv))
        out, err = capsys.readouterr()
        return int(exit_.value.code or 0), out, err

    assert cli("org", "create", "acme")[0] == 0
    code, out, err = cli("org", "webhook", "acme", "--url", "https://2852039166/latest/meta-data")
    assert code == 2 and out == ""
    assert err == ("percus: error: a webhook URL must point at a public address: '2852039166' is "
                   "169.254.169.254, the cloud instance metadata address\n")
    code, _, err = cli("org", "webhook", "acme", "--url", "http://127.0.0.1:9000/in")
    assert code == 2 and "'127.0.0.1' is a loopback address" in err and "--allow-loopback" in err
    code, _, err = cli("org", "webhook", "acme", "--url", "https://10.0.0.5/in", "--allow-loopback")
    assert code == 2 and "'10.0.0.5' is a private address" in err
    code, _, err = cli("org", "webhook", "acme", "--allow-loopback")
    assert code == 2 and "--allow-loopback goes with --url" in err
    code, out, err = cli("org", "webhook", "acme", "--url", "http://127.0.0.1:9000/in", "--allow-loopback")
    assert code == 0 and out.startswith("whsec_") and "loopback allowed: yes" in err
    code, out, _ = cli("org", "webhook", "acme")
    assert code == 0 and "loopback allowed: yes" in out
    assert cli("org", "webhook", "acme", "--disable", "--allow-loopback")[0] == 2
    with pytest.raises(SystemExit):
        main(["org", "webhook", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--allow-loopback, --no-allow-loopback with --url: let it reach a loopback address" in shown
    assert "link-local (cloud metadata)" in shown
