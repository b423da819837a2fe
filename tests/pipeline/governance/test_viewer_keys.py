"""Keyed viewer ids: stable, different per key, the shape of a client hash, and a key held server-side."""

from __future__ import annotations

import hashlib
import stat
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from pipeline.governance.viewer_keys import ViewerKeys, client_hash, keyed_viewer_hash, load_viewer_keys
from pipeline.lambdas._environment import viewer_keys
from translator.event_parser import parse_event

REPO = Path(__file__).resolve().parents[3]
CLIENT = hashlib.sha256(b"acme:12.345.678-5:salt").hexdigest()  # as the SDK computes one


def test_the_keyed_id_is_hmac_sha256_of_the_client_hash_text() -> None:
    # A fixed vector: a change of definition would orphan every stored id and break DSAR lookups.
    assert keyed_viewer_hash(b"percus-test-key", "ab" * 32) == (
        "4b8fd0a78245e98290bf652e479298f7a3616c0f0c8b30d92c9f23e9e9cfa3a7")
    assert keyed_viewer_hash(b"k", CLIENT) == keyed_viewer_hash(b"k", CLIENT)


def test_it_differs_per_key_and_from_the_client_hash_and_is_a_valid_viewer_hash() -> None:
    one, two = keyed_viewer_hash(b"key-one", CLIENT), keyed_viewer_hash(b"key-two", CLIENT)
    assert len({one, two, CLIENT}) == 3
    for value in (one, two):
        assert len(value) == 64 and value == value.lower() and int(value, 16) >= 0
        event = parse_event({"event_id": "6f1c1d9e-3c1b-4c4e-9a55-0b6d3c3f9e10", "schema_version": "1",
                             "event_type": "session.started", "occurred_at": "2026-11-25T10:00:00.000Z",
                             "session_id": "0d6f3f5c-6a55-4b1e-8c57-7f1f7c9f4a11", "viewer_hash": value})
        assert event.viewer_hash == value  # what the models (and the compactor) accept


def test_keys_parse_with_the_first_keying_and_all_looked_up() -> None:
    keys = ViewerKeys.parse(" v2:new , v1:old ")
    assert keys.keyed(CLIENT) == keyed_viewer_hash(b"new", CLIENT)
    assert keys.stored_forms(CLIENT) == [keyed_viewer_hash(b"new", CLIENT), keyed_viewer_hash(b"old", CLIENT),
                                         CLIENT]
    for bad in ("", ",", "nokid", ":secret", "kid:"):
        with pytest.raises(ValueError, match="PERCUS_VIEWER_KEYS"):
            ViewerKeys.parse(bad)


def test_a_client_hash_is_64_hex_characters_in_any_case() -> None:
    assert client_hash(f" {CLIENT.upper()}\n") == CLIENT
    for bad in ("", "ab" * 31, "zz" * 32, CLIENT + "0"):
        with pytest.raises(ValueError, match="64 hexadecimal"):
            client_hash(bad)


def test_the_embedded_default_generates_one_private_key_on_first_use(tmp_path: Path) -> None:
    first = load_viewer_keys({}, data_dir=tmp_path)
    path = tmp_path / "secrets" / "viewer_keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_viewer_keys({}, data_dir=tmp_path) == first  # kept, not regenerated
    # Another process (the CLI beside `percus serve`) reads the same key.
    other = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                            "from pipeline.governance.viewer_keys import load_viewer_keys; "
                            "print(load_viewer_keys({}, data_dir=Path(sys.argv[1])).keyed(sys.argv[2]))",
                            str(tmp_path), CLIENT], cwd=REPO, capture_output=True, text=True, check=True)
    assert other.stdout.strip() == first.keyed(CLIENT)
    from_env = load_viewer_keys({"PERCUS_VIEWER_KEYS": "e:env-key"}, data_dir=tmp_path)
    assert from_env.ring.keys == (("e", b"env-key"),)


def test_without_a_key_or_a_data_dir_it_refuses_to_make_one_up(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PERCUS_VIEWER_KEYS"):
        load_viewer_keys({})
    assert not (tmp_path / "secrets").exists()


@pytest.mark.aws
def test_a_lambda_reads_the_keys_from_secrets_manager(aws: str) -> None:
    secrets = boto3.client("secretsmanager")
    secret = secrets.create_secret(Name="percus/viewer-keys", SecretString="v3:aws-key\n")
    keys = viewer_keys({"PERCUS_VIEWER_KEYS_SECRET": secret["ARN"]})
    assert keys.keyed(CLIENT) == keyed_viewer_hash(b"aws-key", CLIENT)
    with pytest.raises(ValueError, match="PERCUS_VIEWER_KEYS"):
        viewer_keys({})
