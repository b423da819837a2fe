"""Configuration from the environment. The embedded default needs none of it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.governance.key_ring import KeyRing

DEFAULT_MAIL_FROM = "Percus analytics <digest@localhost>"  # fine for the outbox; SES needs a verified one


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    queue: str  # "local" or an SQS queue URL
    store: str  # "file://<dir>" or "s3://bucket[/prefix]"
    query_engine: str  # "duckdb" or "athena"
    athena_workgroup: str | None
    athena_output: str | None
    token_keys: KeyRing  # share tokens, export URLs and dashboard sessions are signed with these
    mail: str = "outbox"  # "outbox" (folders under the data dir) or "ses"
    mail_from: str = DEFAULT_MAIL_FROM
    queue_segment_max_age: float = 3600.0  # seconds; the local queue also rolls its segments this often


def load_settings(env: dict[str, str] | None = None, *, signing: bool = True) -> Settings:
    """Settings from the environment. With `signing=False` (a process that signs no share token, such
    as the digest Lambda) no token key is read or generated: `token_keys` is empty. The embedded
    default signs with a key generated on first run and kept in the data dir."""
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("PERCUS_DATA_DIR", "./percus-data")).resolve()
    token_keys = (KeyRing.load("PERCUS_TOKEN_KEYS", env, data_dir / "secrets" / "token_keys", first_kid="k1")
                  if signing else KeyRing(()))
    return Settings(
        data_dir=data_dir,
        queue=env.get("PERCUS_QUEUE", "local"),
        store=env.get("PERCUS_STORE", f"file://{data_dir / 'bucket'}"),
        query_engine=env.get("PERCUS_QUERY_ENGINE", "duckdb"),
        athena_workgroup=env.get("PERCUS_ATHENA_WORKGROUP"),
        athena_output=env.get("PERCUS_ATHENA_OUTPUT"),
        token_keys=token_keys,
        mail=env.get("PERCUS_MAIL", "outbox"),
        mail_from=env.get("PERCUS_MAIL_FROM") or DEFAULT_MAIL_FROM,
        queue_segment_max_age=_seconds(env, "PERCUS_QUEUE_SEGMENT_MAX_AGE", 3600.0),
    )


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    text = env.get(name)
    try:
        value = default if text is None else float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a number of seconds above 0, got {text!r}")
    return value
