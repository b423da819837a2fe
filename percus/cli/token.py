"""`percus token issue`: a signed share token."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from percus.cli import shared

if TYPE_CHECKING:
    from percus.cli.shared import Commands


def add(commands: Commands) -> None:
    token = shared.group(commands, "token", "share tokens")
    issue = shared.command(token, "issue", run_issue, "print a signed share token")
    shared.org_option(issue)
    issue.add_argument("--project", required=True, help="project id")
    issue.add_argument("--share", help="public share id")
    issue.add_argument("--channel", help="distribution channel id")
    issue.add_argument("--ttl", default="30d", help="lifetime, e.g. 30d, 12h, 90m (default 30d)")
    issue.add_argument("--origin", action="append", help="allowed page origin (repeatable); "
                       "default: any origin")


def run_issue(args: argparse.Namespace) -> int:
    from gateway.tokens import issue_token, parse_ttl

    settings = shared.settings(args)
    print(issue_token(settings.token_keys, organization_id=args.org, project_id=args.project,
                      public_share_id=args.share, distribution_channel_id=args.channel,
                      ttl=parse_ttl(args.ttl), origins=args.origin))
    shared.warn_unregistered(settings, args.org, "its events are accepted, but no report can read them")
    return 0
