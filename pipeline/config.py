"""Configuration from the environment. The embedded default needs none of it."""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAIL_FROM = "Percus analytics <digest@localhost>"  # fine for the outbox; SES needs a verified one


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    queue: str  # "local" or an SQS queue URL
    store: str  # "file://<dir>" or "s3://bucket[/prefix]"
    query_engine: str  # "duckdb" or "athena"
    athena_workgroup: str | None
    athena_output: str | None
    token_keys: tuple[tuple[str, bytes], ...]  # (kid, secret); the first signs, all verify
    mail: str = "outbox"  # "outbox" (folders under the data dir) or "ses"
    mail_from: str = DEFAULT_MAIL_FROM

    @property
    def is_local_queue(self) -> bool:
        return self.queue == "local"


def _parse_token_keys(text: str) -> tuple[tuple[str, bytes], ...]:
    keys = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        kid, sep, secret = item.partition(":")
        if not sep or not kid or not secret:
            raise ValueError(f"PERCUS_TOKEN_KEYS entry {item[:8]!r}… must be kid:secret")
        keys.append((kid, secret.encode()))
    if not keys:
        raise ValueError("PERCUS_TOKEN_KEYS is set but names no key")
    return tuple(keys)


def _local_token_keys(data_dir: Path) -> tuple[tuple[str, bytes], ...]:
    """The embedded default signs with a key generated on first run and kept in the data dir."""
    path = data_dir / "secrets" / "token_keys"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"k1:{secrets.token_urlsafe(32)}\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # never replace a key another process wrote first
        tmp.unlink()
    return _parse_token_keys(path.read_text())


def load_settings(env: dict[str, str] | None = None, *, signing: bool = True) -> Settings:
    """Settings from the environment. With `signing=False` (a process that signs no share token, such
    as the digest Lambda) no token key is read or generated: `token_keys` is empty."""
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("PERCUS_DATA_DIR", "./percus-data")).resolve()
    keys_text = env.get("PERCUS_TOKEN_KEYS")
    return Settings(
        data_dir=data_dir,
        queue=env.get("PERCUS_QUEUE", "local"),
        store=env.get("PERCUS_STORE", f"file://{data_dir / 'bucket'}"),
        query_engine=env.get("PERCUS_QUERY_ENGINE", "duckdb"),
        athena_workgroup=env.get("PERCUS_ATHENA_WORKGROUP"),
        athena_output=env.get("PERCUS_ATHENA_OUTPUT"),
        token_keys=((_parse_token_keys(keys_text) if keys_text else _local_token_keys(data_dir))
                    if signing else ()),
        mail=env.get("PERCUS_MAIL", "outbox"),
        mail_from=env.get("PERCUS_MAIL_FROM") or DEFAULT_MAIL_FROM,
    )
