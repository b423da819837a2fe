"""`percus legacy register`: the Individeo migration's attachment codes."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from percus.cli import shared

if TYPE_CHECKING:
    from percus.cli.shared import Commands


def add(commands: Commands) -> None:
    legacy = shared.group(commands, "legacy", "Individeo migration")
    register = shared.command(legacy, "register", run_register, "make an Individeo attachment code "
                              "resolvable by the compat script")
    register.add_argument("--org", required=True)
    register.add_argument("--project", required=True)
    register.add_argument("--attachment-code", required=True)
    register.add_argument("--template")


def run_register(args: argparse.Namespace) -> int:
    from pipeline.governance.registry import Attachment

    registry = shared.registry(shared.settings(args))
    registry.register_attachment(Attachment(attachment_code=args.attachment_code, organization_id=args.org,
                                            project_id=args.project, template_id=args.template))
    print(f"attachment {args.attachment_code!r} → {args.org}/{args.project}")
    return 0
