"""The key ring of the token and viewer keys: the format, the current key, and the embedded default's
key file (made once, private, never replaced)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.governance.key_ring import KeyRing


def test_the_first_key_is_current_and_every_key_is_found_by_its_id() -> None:
    ring = KeyRing.parse(" k2:new , k1:old ", "PERCUS_TOKEN_KEYS")
    assert ring.current == ("k2", b"new")
    assert ring.secrets == (b"new", b"old")
    assert (ring.secret("k1"), ring.secret("k9")) == (b"old", None)
    with pytest.raises(ValueError, match="no key"):
        KeyRing(()).current  # noqa: B018 - a process that signs nothing


def test_a_malformed_value_is_refused_naming_its_variable_but_not_the_secret() -> None:
    for bad in ("", ",", ":secret", "kid:", "a-secret-without-a-kid"):
        with pytest.raises(ValueError, match="PERCUS_TOKEN_KEYS") as caught:
            KeyRing.parse(bad, "PERCUS_TOKEN_KEYS")
        assert "without" not in str(caught.value)


def test_the_variable_wins_over_the_key_file(tmp_path: Path) -> None:
    env = {"PERCUS_TOKEN_KEYS": "e:env"}
    ring = KeyRing.load("PERCUS_TOKEN_KEYS", env, tmp_path / "keys", first_kid="k1")
    assert ring.keys == (("e", b"env"),) and not (tmp_path / "keys").exists()
    with pytest.raises(ValueError, match="set PERCUS_VIEWER_KEYS"):
        KeyRing.load("PERCUS_VIEWER_KEYS", {}, None, first_kid="v1")


def test_the_embedded_default_makes_one_private_token_key_and_keeps_it(tmp_path: Path) -> None:
    first = load_settings({"PERCUS_DATA_DIR": str(tmp_path)}).token_keys
    path = tmp_path / "secrets" / "token_keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.current[0] == "k1" and path.read_text() == f"k1:{first.current[1].decode()}\n"
    assert load_settings({"PERCUS_DATA_DIR": str(tmp_path)}).token_keys == first
    assert [p.name for p in path.parent.iterdir()] == ["token_keys"]  # no temporary file left
