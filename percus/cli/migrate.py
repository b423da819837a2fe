"""`percus migrate check`: a customer's Individeo dependencies, found in their pages before the script
swap (docs/migration-from-individeo.md). Reads files only: no network, no data dir."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from percus.cli import shared

if TYPE_CHECKING:
    from percus.cli.shared import Commands
    from translator.migration_check import Finding

MAX_BYTES = 5 * 1024 * 1024  # a page or template is far smaller; what is larger is said skipped
SKIPPED_DIRECTORIES = frozenset({"node_modules", ".git"})
PLACEHOLDER = "https://YOUR-PERCUS-GATEWAY"
SCRIPT_PATH = "/sdk/percus-individeo-compat.js"
_FOUND_CHARS = 60


def add(commands: Commands) -> None:
    migrate = shared.group(commands, "migrate", "Individeo migration: check pages before the script swap")
    text = "find the Individeo dependencies of pages and templates, and what the compat script makes of each"
    check = migrate.add_parser("check", help=text, description=text + ". Exit code 2 when an input cannot "
                               "be read, else 1 when something found is not supported, else 0.")
    check.set_defaults(handler=run_check)
    check.add_argument("paths", nargs="+", metavar="PATH",
                       help="files and directories (searched recursively, without node_modules and .git)")
    check.add_argument("--gateway", metavar="URL", help="your Percus gateway, for the script src to swap in")
    shared.format_option(check)


@dataclass
class Inputs:
    texts: list[tuple[str, str]] = field(default_factory=list)  # (path as given or walked, text)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, why)


def run_check(args: argparse.Namespace) -> int:
    from translator.migration_check import check_text, collect_names

    src = compat_src(args.gateway)
    inputs = read_inputs(args.paths)
    names = collect_names(text for _, text in inputs.texts)
    findings = [(path, finding) for path, text in inputs.texts for finding in check_text(text, names)]
    for path, why in inputs.unreadable:
        print(f"percus: error: cannot read {path}: {why}", file=sys.stderr)
    report = _report(inputs, findings, src, placeholder=args.gateway is None)
    if args.format == "json":
        shared.print_json(report, indent=2)
    else:
        _print_table(inputs, findings, report)
    if inputs.unreadable:
        return 2
    return 1 if report["summary"]["not_supported"] else 0


def compat_src(gateway: str | None) -> str:
    """The script src to swap in: the compat script of `gateway`, or of a placeholder."""
    url = urlsplit(gateway or PLACEHOLDER)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ValueError(f"--gateway must be your gateway's address, e.g. https://percus.example.com, "
                         f"not {gateway!r}")
    return f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}{SCRIPT_PATH}"


def read_inputs(paths: list[str]) -> Inputs:
    inputs = Inputs()

    def unlistable(error: OSError) -> None:
        inputs.unreadable.append((str(error.filename), error.strerror or str(error)))

    for given in paths:
        path = Path(given)
        if not path.is_dir():
            _read(path, inputs, walked=False)
            continue
        for top, directories, files in os.walk(path, onerror=unlistable):
            directories[:] = sorted(d for d in directories if d not in SKIPPED_DIRECTORIES)
            for name in sorted(files):
                _read(Path(top, name), inputs, walked=True)
    return inputs


def _read(path: Path, inputs: Inputs, *, walked: bool) -> None:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            # A socket or FIFO met in a tree is no page; one named on the command line is an error.
            (inputs.skipped if walked else inputs.unreadable).append((str(path), "not a regular file"))
            return
        if info.st_size > MAX_BYTES:
            inputs.skipped.append((str(path), f"larger than {MAX_BYTES // 1024 // 1024} MB"))
            return
        data = path.read_bytes()
    except OSError as error:
        inputs.unreadable.append((str(path), error.strerror or str(error)))
        return
    if b"\0" in data:
        inputs.skipped.append((str(path), "binary"))
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:  # older templates are often Windows-1252; the patterns are ASCII
        text = data.decode("cp1252", errors="replace")
    inputs.texts.append((str(path), text))


def _report(inputs: Inputs, findings: list[tuple[str, Finding]], src: str, *,
            placeholder: bool) -> dict[str, Any]:
    statuses = [finding.status for _, finding in findings]
    return {
        "findings": [{"file": path, "line": f.line, "column": f.column, "kind": f.kind, "text": f.text,
                      "status": f.status, "note": f.note} for path, f in findings],
        "skipped": [{"file": path, "reason": why} for path, why in inputs.skipped],
        "unreadable": [{"file": path, "reason": why} for path, why in inputs.unreadable],
        "summary": {"files_read": len(inputs.texts), "findings": len(findings),
                    "supported": statuses.count("supported"),
                    "supported_with_note": statuses.count("supported, note"),
                    "not_supported": statuses.count("not supported"),
                    "skipped": len(inputs.skipped), "unreadable": len(inputs.unreadable)},
        "change": {"script_src": src, "placeholder": placeholder,
                   "smartembed_srcs": sum(f.kind == "script src" for _, f in findings)},
    }


def _print_table(inputs: Inputs, findings: list[tuple[str, Finding]], report: dict[str, Any]) -> None:
    def found(text: str) -> str:
        return text if len(text) <= _FOUND_CHARS else text[:_FOUND_CHARS - 1] + "…"

    rows = [("WHERE", "KIND", "FOUND", "STATUS")]
    rows += [(f"{path}:{f.line}:{f.column}", f.kind, found(f.text), f.verdict) for path, f in findings]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    if findings:
        for row in rows:
            padded = (cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
            print("  ".join(padded) + "  " + row[3])  # the status, unpadded: it ends the line
        print()
    for path, why in inputs.skipped:
        print(f"skipped: {path} ({why})")
    summary, change = report["summary"], report["change"]
    print(f"{summary['files_read']} files read, {summary['findings']} Individeo dependencies: "
          f"{summary['supported']} supported, {summary['supported_with_note']} supported with a note, "
          f"{summary['not_supported']} not supported"
          + (f"; {summary['skipped']} skipped" if summary["skipped"] else "")
          + (f"; {summary['unreadable']} unreadable" if summary["unreadable"] else "") + ".")
    if summary["not_supported"]:
        print("Change what is not supported by hand, as its status says: a src swap does not fix it.")
    print(f"The one change: swap the src of each smartEmbed.js tag ({change['smartembed_srcs']} found) for\n"
          f"  {change['script_src']}")
    if change["placeholder"]:
        print("  (a placeholder: replace YOUR-PERCUS-GATEWAY with your gateway's address, or run again with "
              "--gateway URL)")
