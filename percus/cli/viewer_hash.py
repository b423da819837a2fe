"""`percus viewer-hash`: the viewer hash of a recipient code, for a DSAR request that names a recipient
rather than a hash."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from percus.cli import shared
from translator.ids import check_slug

if TYPE_CHECKING:
    from percus.cli.shared import Commands


def add(commands: Commands) -> None:
    command = shared.command(commands, "viewer-hash", run, "print the viewer hash the SDK computes for a "
                             "recipient code (what `percus dsar delete --viewer-hash` takes)")
    shared.org_option(command)
    command.add_argument("--recipient-code", required=True, metavar="CODE",
                         help="the recipient code; `-` reads it from the first line of stdin, which keeps it "
                              "out of the shell's history")


def run(args: argparse.Namespace) -> int:
    from gateway.player import derived_salt
    from translator.viewer_hash import client_viewer_hash

    settings = shared.settings(args)
    org = check_slug(args.org, "organization")
    code = sys.stdin.readline().rstrip("\r\n") if args.recipient_code == "-" else args.recipient_code
    if not code:
        raise ValueError("the recipient code is empty")
    record = shared.registry(settings).get(org)
    # The salt the player hands the SDK: the organization's, or for one not created yet the derived one.
    salt = record.salt if record is not None else derived_salt(settings, org)
    print(client_viewer_hash(org, code, salt))
    return 0
