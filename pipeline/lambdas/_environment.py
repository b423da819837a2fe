"""What a Lambda container reads from its environment (deploy/template.yaml sets the variables)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline.config import Settings, load_settings
from pipeline.governance.viewer_keys import ViewerKeys, load_viewer_keys

if TYPE_CHECKING:
    from pipeline.store.s3 import S3Store

TOKEN_KEYS_SECRET = "PERCUS_TOKEN_KEYS_SECRET"  # a Secrets Manager secret id holding `kid:secret[,…]`
VIEWER_KEYS_SECRET = "PERCUS_VIEWER_KEYS_SECRET"  # the same, for the viewer-id keys


def _secret(secret_id: str, client: Any) -> str:
    """A Secrets Manager secret's text. boto3 is imported here, not at the top: the ingest handler
    imports this module, and boto3 is most of its import time (bench/coldstart.py)."""
    if client is None:
        import boto3

        client = boto3.client("secretsmanager")
    return str(client.get_secret_value(SecretId=secret_id)["SecretString"]).strip()


def gateway_settings(env: Mapping[str, str] | None = None, *, secrets: Any = None) -> Settings:
    """Settings for the gateway, with PERCUS_TOKEN_KEYS read from Secrets Manager at cold start.

    The keys stay out of the function's configuration, where anyone allowed to read it would see
    them. Without keys this fails: load_settings would generate one per container, and a token
    signed elsewhere would then verify nowhere.
    """
    env = dict(os.environ if env is None else env)
    secret_id = env.get(TOKEN_KEYS_SECRET)
    if secret_id:
        env["PERCUS_TOKEN_KEYS"] = _secret(secret_id, secrets)
    if not env.get("PERCUS_TOKEN_KEYS"):
        raise RuntimeError(f"set {TOKEN_KEYS_SECRET} (a Secrets Manager secret id) or PERCUS_TOKEN_KEYS")
    return load_settings(env)


def data_store(env: Mapping[str, str] | None = None) -> S3Store:
    """The bucket of PERCUS_STORE (`s3://bucket[/prefix]`).

    The data functions hold no token keys, so they do not go through load_settings, which would
    generate a signing key for them.
    """
    from pipeline.store.s3 import S3Store  # boto3: see _secret

    value = (os.environ if env is None else env).get("PERCUS_STORE", "")
    bucket, _, prefix = value.removeprefix("s3://").partition("/")
    if not value.startswith("s3://") or not bucket:
        raise RuntimeError(f"PERCUS_STORE must be s3://bucket[/prefix] in a Lambda, got {value!r}")
    return S3Store(bucket, prefix)


def data_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings for a data function that queries and mails (the digest): PERCUS_QUERY_ENGINE,
    PERCUS_MAIL and the rest, without token keys (it signs nothing, so none is read or generated)."""
    return load_settings(dict(os.environ if env is None else env), signing=False)


def viewer_keys(env: Mapping[str, str] | None = None, *, secrets: Any = None) -> ViewerKeys:
    """The viewer-id keys (pipeline/governance/viewer_keys.py), from Secrets Manager at cold start, else from
    PERCUS_VIEWER_KEYS. Never generated: a key made up in one container keys ids no other can find."""
    env = os.environ if env is None else env
    secret_id = env.get(VIEWER_KEYS_SECRET)
    if secret_id:
        return ViewerKeys.parse(_secret(secret_id, secrets))
    return load_viewer_keys(env)
