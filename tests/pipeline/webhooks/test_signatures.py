"""The webhook signature scheme: what the sender signs, what a receiver verifies, and the receiver
code in docs/api.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.webhooks.signatures import sign, signature_header
from tests.pipeline.webhooks._receiver import SignatureError, verify_signature


def test_signature_verifies_and_refuses_a_tampered_body_a_stale_or_early_time_and_a_bad_header() -> None:
    body = b'{"events":[{"event_id":"e1"}]}'
    header = signature_header(["whsec_test"], 1_800_000_000, body)
    assert header == f"t=1800000000,v1={sign('whsec_test', 1_800_000_000, body)}"
    assert verify_signature("whsec_test", header, body, now=1_800_000_000 + 299) == 1_800_000_000
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature("whsec_test", header, body.replace(b"e1", b"e2"), now=1_800_000_000)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature("whsec_other", header, body, now=1_800_000_000)
    with pytest.raises(SignatureError, match="tolerance"):  # a replay more than 5 minutes later
        verify_signature("whsec_test", header, body, now=1_800_000_000 + 301)
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature("whsec_test", header, body, now=1_800_000_000 - 301)
    forged_time = header.replace("t=1800000000", "t=1800000500")  # a fresh time on an old signature
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature("whsec_test", forged_time, body, now=1_800_000_500)
    for malformed in ("", "v1=abc", "t=1800000000", "t=soon,v1=abc"):
        with pytest.raises(SignatureError, match="malformed"):
            verify_signature("whsec_test", malformed, body, now=1_800_000_000)
    # During a rotation both secrets sign: a receiver holding either verifies.
    both = signature_header(["whsec_new", "whsec_old"], 1_800_000_000, body)
    for secret in ("whsec_new", "whsec_old"):
        assert verify_signature(secret, both, body, now=1_800_000_000)


def test_the_verification_code_in_the_api_docs_agrees_with_the_sender() -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "api.md").read_text()
    section = text[text.index("### Verifying a request"):]
    start = section.index("```python\n") + len("```python\n")
    code = section[start:section.index("\n```", start)]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)
    verify = namespace["verify"]
    body = b'{"events":[]}'
    header = signature_header(["whsec_new", "whsec_old"], 1_800_000_000, body)
    assert verify("whsec_old", header, body, now=1_800_000_100) == 1_800_000_000
    for secret, sent, now in [("whsec_new", body + b" ", 1_800_000_000), ("whsec_x", body, 1_800_000_000),
                              ("whsec_new", body, 1_800_000_301)]:
        with pytest.raises(ValueError):
            verify(secret, header, sent, now=now)
