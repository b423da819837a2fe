"""`percus admin key`: admin keys, which read every organization's reports and dashboard."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from percus.cli import shared

if TYPE_CHECKING:
    from percus.cli.shared import Commands


def add(commands: Commands) -> None:
    admin = shared.group(commands, "admin", "admin keys (every organization's reports and dashboard)")
    key = shared.command(admin, "key", run_key, "create (print once) or revoke an admin key")
    key.add_argument("--revoke", metavar="KEY_ID", help="revoke the admin key with this id instead")


def run_key(args: argparse.Namespace) -> int:
    registry = shared.registry(shared.settings(args))
    if args.revoke:
        registry.revoke_admin_key(args.revoke)
        print(f"revoked admin key {args.revoke}")
        return 0
    print(registry.create_admin_key())
    print("(shown once: only its hash is stored; it reads every organization)", file=sys.stderr)
    return 0
