from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from gateway.enrichment import _HOST, device_from_user_agent, geo_from_header, referrer_host

CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/120.0.0.0 Safari/537.36")


@pytest.mark.parametrize(("user_agent", "expected"), [
    (CHROME_WINDOWS, ("desktop", "Windows", "Chrome", False)),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
     "Safari/605.1.15", ("desktop", "Mac OS X", "Safari", False)),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
     ("desktop", "Linux", "Firefox", False)),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.0 Mobile/15E148 Safari/604.1", ("mobile", "iOS", "Mobile Safari", False)),
    ("Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 "
     "Mobile Safari/537.36", ("mobile", "Android", "Chrome Mobile", False)),
    ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
     "Mobile/15E148 Safari/604.1", ("tablet", "iOS", "Mobile Safari", False)),
    ("Mozilla/5.0 (Linux; Android 12; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 "
     "Safari/537.36", ("tablet", "Android", "Chrome", False)),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     ("bot", None, "Googlebot", True)),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
     ("bot", None, "FacebookBot", True)),
    ("curl/8.1.2", ("other", None, "curl", False)),
    ("", ("other", None, None, False)),
])
def test_device_from_user_agent(user_agent: str, expected: tuple[object, ...]) -> None:
    device = device_from_user_agent(user_agent)
    assert (device.type, device.os, device.browser, device.is_bot) == expected


def test_parses_are_cached() -> None:
    assert device_from_user_agent(CHROME_WINDOWS) is device_from_user_agent(CHROME_WINDOWS)


def test_huge_user_agents_are_cut_before_parsing() -> None:
    padded = CHROME_WINDOWS + " x" * 50_000
    assert device_from_user_agent(padded) is device_from_user_agent(padded[:512])


@pytest.mark.parametrize(("header", "country"), [
    ("CL", "CL"), ("BR", "BR"), ("cl", None), ("CHL", None), ("C1", None), ("", None), (None, None),
    ("XX-forged", None),
])
def test_geo_only_from_a_two_letter_code(header: str | None, country: str | None) -> None:
    assert geo_from_header(header).country == country


@pytest.mark.parametrize(("referer", "host"), [
    ("https://www.Bank-Client.cl/campaigns/spring?email=alice%40example.com#top", "www.bank-client.cl"),
    ("http://user:password@intranet.example.com:8443/private/path", "intranet.example.com"),
    ("https://example.com.", "example.com"),
    ("android-app://com.bank.app/", "com.bank.app"),
    ("https://[2001:db8::1]/x", None),  # an address, not a host name
    ("not a url", None),
    ("https:///nohost", None),
    ("https://exa mple.com/", None),
    ("", None),
    (None, None),
])
def test_referrer_keeps_only_the_host(referer: str | None, host: str | None) -> None:
    assert referrer_host(referer) == host


_URL_PARTS = st.sampled_from([
    "http://", "https://", "HTTPS://", "hTtP://", "ftp://", "//", "a", "Z", "0", "9", ".", "..", "-",
    "_", ":", ":8443", "/", "?", "#", "@", "user:pw@", "[", "]", "\\", "%2e", " ", "\t", "\n", "\r",
    "\x00", "é", "xn--bcher-kva", "\u3002"])


@given(st.lists(_URL_PARTS, max_size=12).map("".join))
@examples(max_examples=1500)
def test_the_referrer_host_is_urlsplits_host(referer: str) -> None:
    # The usual form is read without urlsplit: the host must be the one urlsplit finds.
    try:
        host = urlsplit(referer).hostname
    except ValueError:
        host = None
    expected = host.rstrip(".") if host and len(host) <= 253 and _HOST.fullmatch(host) else None
    assert referrer_host(referer or None) == expected
