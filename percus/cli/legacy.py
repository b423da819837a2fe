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
    shared.org_option(register)
    register.add_argument("--project", required=True, help="project id")
    register.add_argument("--attachment-code", required=True, metavar="CODE",
                          help="the Individeo attachment code")
    register.add_argument("--template", help="template id (default: none)")
    # Individeo's account-side settings, for pages that write no tracking or consent attribute.
    shared.flag(register, "--tracking", "track where the page does not say")
    shared.flag(register, "--consent-required", "tracking waits for consent where the page does not say",
                default=True)


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
