"""`percus migrate check`: files and directories read, findings printed as a table or JSON, the one
change to make, and the exit code (2 for an unreadable input, else 1 for anything not supported)."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import pytest

from tests._fixtures import FIXTURES
from tests.conftest import REPO
from tests.percus._cli import run

MIGRATE = FIXTURES / "individeo" / "migrate"
SUPPORTED_ONLY = ["static-page.html", "jquery-insert.js", "angular", "php/video.php", "vue",
                  "own-functions.js"]
PLACEHOLDER_SRC = "https://YOUR-PERCUS-GATEWAY/sdk/percus-individeo-compat.js"


@pytest.fixture(autouse=True)
def in_fixtures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(MIGRATE)  # paths print as given


def rows(out: str) -> dict[str, tuple[str, str, str]]:
    """The table's rows by location: (kind, found, status)."""
    found = {}
    for line in out.splitlines():
        cells = re.split(r"\s{2,}", line, maxsplit=3)
        if len(cells) == 4 and re.search(r":\d+:\d+$", cells[0]):
            found[cells[0]] = (cells[1], cells[2], cells[3])
    return found


def test_pages_with_only_supported_dependencies_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "migrate", "check", *SUPPORTED_ONLY)
    assert (code, err) == (0, "")
    table = rows(out)
    assert table["static-page.html:9:14"] == (
        "script src", "https://cdn.individeo.com/individeo/prod/edge/js/smartEmbed…",
        "supported, note: Swap this src for the compat script's (the last line of the report).")
    assert table["static-page.html:14:9"] == (
        "attribute", "data-iv-auto-fullscreen",
        "supported, note: Read and ignored: browsers only enter fullscreen on a viewer's gesture.")
    assert table["static-page.html:21:48"] == ("method", "BluePlayer.current.destroy", "supported")
    assert table["angular/individeo-video.component.html:6:14"][0:2] == ("attribute", "data-iv-use-branding")
    assert not any(location.startswith("own-functions.js") for location in table)
    assert out.endswith(
        "7 files read, 52 Individeo dependencies: 40 supported, 12 supported with a note, 0 not supported.\n"
        "The one change: swap the src of each smartEmbed.js tag (6 found) for\n"
        f"  {PLACEHOLDER_SRC}\n"
        "  (a placeholder: replace YOUR-PERCUS-GATEWAY with your gateway's address, or run again with "
        "--gateway URL)\n")


def test_anything_not_supported_exits_1_and_says_what_to_change(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "migrate", "check", ".", "--gateway", "https://percus.example.com/edge/")
    assert (code, err) == (1, "")
    table = rows(out)
    not_supported = sorted(location for location, (_, _, status) in table.items()
                           if status.startswith("not supported"))
    assert not_supported == ["iframe-preview.html:2:1", "server/relay.py:5:8", "server/relay.py:6:10",
                             "tracking-overrides.js:1:8", "tracking-overrides.js:7:34",
                             "unknown-attribute.html:3:9", "unknown-constant.js:2:10",
                             "wordpress/post.html:2:1", "wordpress/shortcode.php:2:1",
                             "wordpress/shortcode.php:4:13"]
    assert table["unknown-constant.js:2:10"][2].startswith("not supported: BluePlayer.NOPE is not a constant")
    assert "14 files read, 72 Individeo dependencies: 45 supported, 17 supported with a note, " \
           "10 not supported.\n" in out
    assert out.endswith("(7 found) for\n  https://percus.example.com/edge/sdk/percus-individeo-compat.js\n")


def test_json_is_one_document_with_the_findings_the_summary_and_the_change(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "migrate", "check", "unknown-attribute.html", "own-functions.js", "--format",
                       "json", "--gateway", "http://127.0.0.1:8000")
    assert code == 1
    document = json.loads(out)
    assert document["findings"] == [
        {"file": "unknown-attribute.html", "line": 1, "column": 14, "kind": "script src",
         "text": "https://cdn.individeo.com/individeo/prod/edge/js/smartEmbed.js",
         "status": "supported, note",
         "note": "Swap this src for the compat script's (the last line of the report)."},
        {"file": "unknown-attribute.html", "line": 2, "column": 9, "kind": "attribute",
         "text": "data-iv-attachment-code", "status": "supported", "note": ""},
        {"file": "unknown-attribute.html", "line": 3, "column": 9, "kind": "attribute", "text": "data-iv-foo",
         "status": "not supported", "note": "The compat script does not know data-iv-foo: it ignores it (a "
         "console warning). Remove it, or use an attribute of docs/migration-from-individeo.md."},
    ]
    assert document["summary"] == {"files_read": 2, "findings": 3, "supported": 1, "supported_with_note": 1,
                                   "not_supported": 1, "skipped": 0, "unreadable": 0}
    assert document["change"] == {"script_src": "http://127.0.0.1:8000/sdk/percus-individeo-compat.js",
                                  "placeholder": False, "smartembed_srcs": 1}
    assert (document["skipped"], document["unreadable"]) == ([], [])


def test_a_missing_path_exits_2_even_beside_findings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "migrate", "check", "unknown-constant.js", "no-such-page.html")
    assert code == 2
    assert err == "percus: error: cannot read no-such-page.html: No such file or directory\n"
    assert "1 files read, 4 Individeo dependencies: 3 supported, 0 supported with a note, 1 not supported; " \
           "1 unreadable.\n" in out


def test_an_unreadable_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_UNIX) as listening:  # no process can open a socket as a file, root included
        listening.bind(str(tmp_path / "page.sock"))
        code, _, err = run(capsys, "migrate", "check", str(tmp_path / "page.sock"), "own-functions.js")
    assert code == 2
    assert err == f"percus: error: cannot read {tmp_path / 'page.sock'}: not a regular file\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_a_file_without_read_permission_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "page.html"
    page.write_text("<div data-iv-lang='fr'>")
    page.chmod(0)
    code, _, err = run(capsys, "migrate", "check", str(tmp_path))
    assert code == 2
    assert err == f"percus: error: cannot read {page}: Permission denied\n"


def test_directories_are_searched_without_dependencies_binaries_and_large_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tag = '<script src="https://cdn.individeo.com/individeo/prod/edge/js/smartEmbed.js"></script>\n'
    for name in ("node_modules/individeo-wrapper/index.html", ".git/page.html", "site/deep/er/page.erb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(tag)
    (tmp_path / "site/logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0" + tag.encode())
    (tmp_path / "site/bundle.js").write_text(tag + " " * 5 * 1024 * 1024)
    # A template saved as Windows-1252 is read too.
    (tmp_path / "site/pension.php").write_bytes("<p>pensión</p><div data-bp-lang='es'>".encode("cp1252"))
    code, out, err = run(capsys, "migrate", "check", str(tmp_path / "site"))
    assert (code, err) == (0, "")
    assert set(rows(out)) == {f"{tmp_path}/site/deep/er/page.erb:1:14", f"{tmp_path}/site/pension.php:1:20"}
    assert f"skipped: {tmp_path}/site/bundle.js (larger than 5 MB)\n" in out
    assert f"skipped: {tmp_path}/site/logo.png (binary)\n" in out
    code, out, _ = run(capsys, "migrate", "check", str(tmp_path))
    assert len(rows(out)) == 2  # node_modules and .git are not searched


def test_nothing_found_is_said_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "index.html").write_text("<video src='clip.webm' controls></video>")
    code, out, _ = run(capsys, "migrate", "check", str(tmp_path))
    assert code == 0
    assert out.startswith("1 files read, 0 Individeo dependencies: 0 supported, 0 supported with a note, 0 "
                          "not supported.\nThe one change: swap the src of each smartEmbed.js tag (0 found)")


@pytest.mark.parametrize("gateway", ["percus.example.com", "ftp://percus.example.com", "https://"])
def test_a_gateway_that_is_no_web_address_is_refused(gateway: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "migrate", "check", "own-functions.js", "--gateway", gateway)
    assert (code, out) == (2, "")
    assert err == ("percus: error: --gateway must be your gateway's address, e.g. "
                   f"https://percus.example.com, not {gateway!r}\n")


def test_the_migration_guide_shows_the_table_as_printed(capsys: pytest.CaptureFixture[str]) -> None:
    guide = (REPO / "docs" / "migration-from-individeo.md").read_text(encoding="utf-8")
    example = re.search(r"^\$ percus (migrate check .*)\n((?:.*\n)*?)```", guide, re.MULTILINE)
    assert example is not None
    command, shown = example.groups()
    assert run(capsys, *command.split())[1] == shown


def test_the_field_pages_patterns_are_all_supported(capsys: pytest.CaptureFixture[str]) -> None:
    # The field-style pages the e2e tests drive (fixtures/individeo/field/): initIndivideo from on-ready,
    # uat and data-bp-env, a jQuery-inserted tag, smartEmbedModal.
    code, out, _ = run(capsys, "migrate", "check", str(FIXTURES / "individeo" / "field"))
    assert code == 0
    found = {(kind, text): status for kind, text, status in rows(out).values()}
    assert found[("global", "smartEmbedModal")] == "supported"
    assert found[("method", "smartPlayer.initIndivideo")] == "supported"
    assert found[("attribute", "data-bp-env")].startswith("supported, note:")
    assert not any(status.startswith("not supported") for status in found.values())
