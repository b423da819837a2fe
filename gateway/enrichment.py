"""What the server adds to an event from request headers, keeping only coarse, non-identifying parts.

The raw User-Agent and the Referer's path and query are read here in memory and never leave: only the
device class, OS and browser family, the country code and the referrer host do.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from translator.canonical import Device, Geo

if TYPE_CHECKING:
    import ua_parser

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_HOST = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$")
_HOST_MAX = 253
# The usual Referer: http(s)://host[:port], then a path, query, fragment or nothing. Anything else
# (credentials, an IPv6 address, a tab or space, another scheme…) is left to urlsplit.
_SIMPLE_URL = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9_.-]+)(?::[0-9]*)?(?:[/?#]|\Z)")
UA_MAX_CHARS = 512  # real User-Agents are shorter; the cut bounds the parse and caches' memory

# ua-parser reports tablets under these device families or brands.
_TABLET_FAMILIES = ("ipad", "kindle", "tablet", "playbook", "nexus 7", "nexus 9", "nexus 10")
_MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Symbian OS",
                        "Firefox OS", "Tizen", "HarmonyOS"})
_DESKTOP_OS = frozenset({"Windows", "Mac OS X", "macOS", "Linux", "Ubuntu", "Chrome OS", "Fedora",
                         "Debian", "FreeBSD", "OpenBSD", "NetBSD", "Solaris", "Mint", "Arch Linux"})

_NO_GEO = Geo()


def device_from_user_agent(user_agent: str) -> Device:
    """Device class (desktop, mobile, tablet, bot, other), OS family and browser family of a User-Agent.
    Only its first UA_MAX_CHARS characters count."""
    return _device(user_agent[:UA_MAX_CHARS])


@lru_cache(maxsize=8192)  # a few browser builds make most traffic; a hit costs well under a microsecond
def _device(user_agent: str) -> Device:
    # Imported with its rules, on the first parse: not at import, which a Lambda's health check or CORS
    # preflight would pay for nothing (the import alone, PyYAML with it, is some 20 ms).
    import ua_parser

    result = ua_parser.parse(user_agent)
    browser = result.user_agent.family if result.user_agent else None
    os = result.os.family if result.os else None
    device = result.device
    is_bot = bool(device and device.family == "Spider")  # ua-parser's name for crawlers and link previewers
    return Device(type=_device_type(user_agent, os, device, is_bot), os=os, browser=browser, is_bot=is_bot)


def _device_type(user_agent: str, os: str | None, device: ua_parser.Device | None, is_bot: bool) -> str:
    if is_bot:
        return "bot"
    names = f"{device.family} {device.brand or ''}".lower() if device else ""
    if any(family in names for family in _TABLET_FAMILIES):
        return "tablet"
    if os == "Android" and "Mobile" not in user_agent:
        return "tablet"  # Android browsers mark phones with "Mobile"; without it the device is a tablet
    if os in _MOBILE_OS:
        return "mobile"
    if os in _DESKTOP_OS:
        return "desktop"  # ua-parser gives no device at all for desktop browsers
    return "other"


def geo_from_header(country: str | None) -> Geo:
    """`geo.country` from CloudFront-Viewer-Country, only when it is a two-letter country code."""
    if country is None or not _COUNTRY.fullmatch(country):
        return _NO_GEO
    return _geo(country)


@cache  # checked codes only, so at most 676
def _geo(country: str) -> Geo:
    return Geo(country=country)


def referrer_host(referer: str | None) -> str | None:
    """Host of the Referer, lower case, without port, credentials, path or query."""
    if not referer:
        return None
    simple = _SIMPLE_URL.match(referer)
    if simple is not None:  # what urlsplit would find, at a fifth of its cost (every single event pays it)
        host: str | None = simple[1].lower()
    else:
        try:
            host = urlsplit(referer).hostname
        except ValueError:
            return None
    if not host or len(host) > _HOST_MAX or not _HOST.fullmatch(host):
        return None
    return host.rstrip(".")
