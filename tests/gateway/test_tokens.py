from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

import pytest

from gateway.tokens import ShareToken, TokenError, TokenVerifier, issue_token, parse_ttl
from pipeline.governance.key_ring import KeyRing

NEW = ("k2", b"new-secret")
OLD = ("k1", b"old-secret")
NOW = 1_800_000_000


def ring(*keys: tuple[str, bytes]) -> KeyRing:
    return KeyRing(keys)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(kid: str, secret: bytes, claims: object) -> str:
    """A token signed with a real key but carrying whatever claims the test wants."""
    signed = f"pt1.{kid}.{_b64(json.dumps(claims).encode())}"
    return f"{signed}.{_b64(hmac.new(secret, signed.encode(), hashlib.sha256).digest())}"


def _code(keys: KeyRing, token: str | None, now: float = NOW) -> str:
    with pytest.raises(TokenError) as caught:
        TokenVerifier(keys).verify(token, now=now)
    return caught.value.code


def test_round_trip_carries_every_claim() -> None:
    token = issue_token(ring(NEW), "acme", "spring", ttl=3600, public_share_id="share-9",
                        distribution_channel_id="email-1", origins=["https://Bank.example.cl/", "http://a.test:8080"],
                        now=NOW)
    assert re.fullmatch(r"pt1\.k2\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)  # URL-safe, no padding
    assert TokenVerifier(ring(NEW)).verify(token, now=NOW + 10) == ShareToken(
        organization_id="acme", project_id="spring", expires_at=NOW + 3600, public_share_id="share-9",
        distribution_channel_id="email-1", origins=("http://a.test:8080", "https://bank.example.cl"),
        kid="k2")


def test_optional_claims_default_to_none() -> None:
    share = TokenVerifier(ring(NEW)).verify(issue_token(ring(NEW), "acme", "spring", now=NOW), now=NOW)
    assert (share.public_share_id, share.distribution_channel_id, share.origins) == (None, None, None)
    assert share.expires_at == NOW + 30 * 86400


def test_expiry_is_exclusive() -> None:
    token = issue_token(ring(NEW), "acme", "spring", ttl=60, now=NOW)
    assert TokenVerifier(ring(NEW)).verify(token, now=NOW + 59).organization_id == "acme"
    assert _code(ring(NEW), token, now=NOW + 60) == "token_expired"


@pytest.mark.parametrize("token", [None, ""])
def test_missing(token: str | None) -> None:
    assert _code(ring(NEW), token) == "token_missing"


def test_forged_claims_fail_the_signature() -> None:
    token = issue_token(ring(NEW), "acme", "spring", now=NOW)
    version, kid, _, signature = token.split(".")
    other = issue_token(ring(NEW), "victim", "spring", now=NOW).split(".")[2]
    assert _code(ring(NEW), f"{version}.{kid}.{other}.{signature}") == "token_bad_signature"


def test_a_token_signed_with_another_secret_under_a_known_kid_is_rejected() -> None:
    forged = issue_token(ring(("k2", b"guessed-secret")), "acme", "spring", now=NOW)
    assert _code(ring(NEW), forged) == "token_bad_signature"


def test_unknown_kid() -> None:
    assert _code(ring(NEW), issue_token(ring(("k9", b"x")), "acme", "spring", now=NOW)) == "token_unknown_kid"


@pytest.mark.parametrize("token", [
    "garbage",
    "pt1.k2.only-three",
    "pt2.k2.e30.AAAA",  # a future version this server does not read
    "pt1.k2.e30.AAAA.extra",
    "pt1.k2.e30.not*base64",
    "pt1.k2.e30.",
])
def test_malformed(token: str) -> None:
    assert _code(ring(NEW), token) == "token_malformed"


@pytest.mark.parametrize("claims", [
    "not an object",
    {"prj": "spring", "exp": NOW + 60},  # no organization
    {"org": "acme", "prj": "spring", "exp": "tomorrow"},
    {"org": "../other-org", "prj": "spring", "exp": NOW + 60},  # would escape its storage partition
    {"org": "acme", "prj": "a/b", "exp": NOW + 60},
    {"org": "acme", "prj": "spring", "exp": NOW + 60, "ori": ["not an origin"]},
])
def test_signed_but_invalid_claims_are_malformed(claims: object) -> None:
    assert _code(ring(NEW), _signed(*NEW, claims)) == "token_malformed"


def test_key_rotation_old_key_verifies_new_key_signs() -> None:
    old_token = issue_token(ring(OLD), "acme", "spring", now=NOW)
    rotated = ring(NEW, OLD)
    assert TokenVerifier(rotated).verify(old_token, now=NOW).kid == "k1"
    new_token = issue_token(rotated, "acme", "spring", now=NOW)
    assert new_token.startswith("pt1.k2.")
    assert TokenVerifier(rotated).verify(new_token, now=NOW).kid == "k2"
    assert _code(ring(NEW), old_token) == "token_unknown_kid"  # the old key retired


@pytest.mark.parametrize(("field", "value"), [
    ("organization_id", "acme/../x"), ("organization_id", ""), ("project_id", "has space"),
    ("public_share_id", "a" * 65), ("distribution_channel_id", "x?y"),
])
def test_issue_refuses_ids_that_are_not_slugs(field: str, value: str) -> None:
    claims = {"organization_id": "acme", "project_id": "spring", field: value}
    with pytest.raises(ValueError):
        issue_token(ring(NEW), **claims)


@pytest.mark.parametrize("kwargs", [{"ttl": 0}, {"ttl": -5}, {"origins": ["bank.cl"]},
                                    {"origins": ["https://bank.cl/path"]}])
def test_issue_refuses_bad_lifetimes_and_origins(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        issue_token(ring(NEW), "acme", "spring", **kwargs)  # type: ignore[arg-type]


def test_issue_refuses_a_kid_that_would_break_the_format() -> None:
    with pytest.raises(ValueError):
        issue_token(ring(("k.1", b"x")), "acme", "spring")


def test_allowed_origins_compare_case_insensitively_and_allow_originless_clients() -> None:
    token = issue_token(ring(NEW), "acme", "p", origins=["https://bank.cl"], now=NOW)
    share = TokenVerifier(ring(NEW)).verify(token, now=NOW)
    assert share.allows_origin("https://BANK.cl")
    assert share.allows_origin(None)  # native apps and servers send no Origin
    assert not share.allows_origin("https://evil.example")
    assert not share.allows_origin("https://bank.cl.evil.example")


@pytest.mark.parametrize(("text", "seconds"), [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400),
                                               ("45s", 45), ("2w", 14 * 86400), (" 7d ", 7 * 86400)])
def test_parse_ttl(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "0d", "-1d", "1y", "d", "1.5h", "30 days"])
def test_parse_ttl_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="TTL"):
        parse_ttl(text)


def test_verifier_cache_still_checks_expiry_and_never_caches_failures() -> None:
    verifier = TokenVerifier(ring(NEW))
    token = issue_token(ring(NEW), "acme", "spring", ttl=60, now=NOW)
    assert verifier.verify(token, now=NOW).project_id == "spring"
    with pytest.raises(TokenError, match="expired"):
        verifier.verify(token, now=NOW + 61)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for _ in range(2):
        with pytest.raises(TokenError) as caught:
            verifier.verify(forged, now=NOW)
        assert caught.value.code == "token_bad_signature"


def test_a_signature_with_altered_padding_bits_is_not_a_second_valid_token() -> None:
    token = issue_token(ring(NEW), "acme", "spring", now=NOW)
    head, signature = token.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 32 bytes take 43 characters; the last carries 2 unused bits, so 4 spellings decode alike.
    index = alphabet.index(signature[-1])
    lookalike = f"{head}.{signature[:-1]}{alphabet[index ^ 1]}"
    decoded = base64.urlsafe_b64decode
    assert decoded(lookalike.rsplit(".", 1)[1] + "=") == decoded(signature + "=")
    assert _code(ring(NEW), lookalike) == "token_malformed"
