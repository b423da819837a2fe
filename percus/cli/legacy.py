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
    # Individeo's account-side settings, for pages that write no tracking or consent attribute.
    register.add_argument("--tracking", action=argparse.BooleanOptionalAction, default=False,
                          help="track where the page does not say (default: off)")
    register.add_argument("--consent-required", action=argparse.BooleanOptionalAction, default=True,
                          help="tracking waits for consent where the page does not say (default: on)")


def run_register(args: argparse.Namespace) -> int:
    from pipeline.governance.registry import Attachment

    registry = shared.registry(shared.settings(args))
    registry.register_attachment(Attachment(attachment_code=args.attachment_code, organization_id=args.org,
                                            project_id=args.project, template_id=args.template,
                                            tracking=args.tracking, consent_required=args.consent_required))
    defaults = (f"tracking {'on' if args.tracking else 'off'}, "
                f"consent {'required' if args.consent_required else 'not required'}")
    print(f"attachment {args.attachment_code!r} → {args.org}/{args.project} "
          f"({defaults} where the page is silent)")
    return 0
