"""percus.d.ts: generated from translator's tables, and strict enough that tsc accepts a page's
correct use of the SDK and refuses its mistakes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from js.attributes import TRACKING_ATTRIBUTES
from js.build import DIST, JS_DIR
from js.types import TYPES_FILE, render_types
from translator.canonical import EVENT_TYPES
from translator.js_tables import export_tables

ROOT = JS_DIR.parent
TSC = JS_DIR / "node_modules" / ".bin" / "tsc"
STRICT = ["--noEmit", "--strict", "--target", "es2021", "--lib", "dom,es2021"]


def tsc(*files: Path) -> subprocess.CompletedProcess[str]:
    if not TSC.exists():
        pytest.fail(f"{TSC} is missing: run `make node`")
    return subprocess.run([str(TSC), *STRICT, *map(str, files)], capture_output=True, text=True, check=False)


def test_every_event_type_and_attribute_is_declared() -> None:
    declared = render_types()
    tables = export_tables()
    for event_type in [*EVENT_TYPES, *(event["name"] for event in tables["player_events"])]:
        assert f'"{event_type}":' in declared
    for attribute in tables["percus_attributes"]:
        name = attribute["name"].removeprefix("data-percus-")
        camel = re.sub("-(.)", lambda match: match[1].upper(), name)
        # Optional where only the tracking module parses it: set once the embed is tracked.
        optional = "?" if attribute["name"] in TRACKING_ATTRIBUTES else ""
        assert re.search(rf"^  {camel}{re.escape(optional)}: ", declared, re.MULTILINE), name
    assert "cta_name?: string | null" in declared and "flush(): Promise<void>;" in declared


def test_the_example_page_script_type_checks() -> None:
    checked = tsc(ROOT / "examples" / "typescript" / "embed-page.ts")
    assert checked.returncode == 0, checked.stdout


MISTAKES = {
    'Percus.on("video.playd", () => {});': "TS2769",  # no such event type
    'Percus.on("cta.clicked", ({payload}) => { const n: number = payload.cta_name ?? 0; });': "TS2322",
    "Percus.flush().then((x: number) => x);": "TS2345",  # it settles with nothing
    'Percus.embed(document.body, {autoplay: "yes"});': "TS2322",
    'window.BluePlayer?.current?.initIndivideo(); window.ivTrackerKey = 42;': "TS2322",
}


def test_tsc_refuses_each_mistake(tmp_path: Path) -> None:
    source = tmp_path / "mistakes.ts"
    lines = [f'/// <reference path="{DIST / TYPES_FILE}" />', *MISTAKES]
    source.write_text("\n".join(lines) + "\n")
    output = tsc(source).stdout
    for number, (line, code) in enumerate(MISTAKES.items(), start=2):
        assert re.search(rf"mistakes\.ts\({number},\d+\): error {code}", output), (line, output)
