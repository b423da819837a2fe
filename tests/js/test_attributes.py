"""The bootstrap parses data-percus-* attributes exactly as translator's parse_value does: the built
bundle runs in node (a bare DOM of its own), embeds one element per case, and its settings and
warnings are compared with translator's, for every attribute of the table."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from js.build import build_bundles
from translator.embed_attributes import PERCUS_ATTRIBUTES, parse_value

RAW: list[str | None] = [None, "", "  ", "true", " TRUE ", "1", "Yes", "on", "false", "Off", "n", "0",
                         "maybe", "uat", "Production", "dev", "STAGING", "es-CL", " spaced value "]

# Just enough of a page for Percus.embed(element): the element's attributes and console warnings.
RUNNER = r"""
const vm = require("vm"), fs = require("fs");
const [bundle, cases] = [fs.readFileSync(process.argv[1], "utf8"), JSON.parse(fs.readFileSync(0, "utf8"))];
const warnings = [], node = () => ({style: {}, addEventListener() {}, append() {}, remove() {}});
const page = {
  console: {warn: (message) => warnings.push(message)}, URL, Blob, crypto, setTimeout, clearTimeout,
  fetch: () => new Promise(() => {}),  // consent given by attribute sends consent.accepted: never answered
  location: {href: "https://site.example/page"}, navigator: {language: "en"}, addEventListener() {},
  document: {currentScript: {src: "https://gw.example/sdk/percus-embed-sdk.js"}, readyState: "complete",
             querySelectorAll: () => [], createElement: node, addEventListener() {}, head: node()},
};
page.window = page;
vm.createContext(page);
vm.runInContext(bundle, page);
const results = cases.map((attributes) => {
  warnings.length = 0;
  const element = {...node(), getAttribute: (name) => attributes[name] ?? null};
  const embed = vm.runInContext("Percus", page).embed(element);
  return {settings: embed.settings, warned: warnings.filter((w) => w.startsWith("Percus: data-percus-"))};
});
process.stdout.write(JSON.stringify(results));
"""


def camel(name: str) -> str:
    first, *rest = name.removeprefix("data-percus-").split("-")
    return first + "".join(part.title() for part in rest)


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the bundle")
def test_the_bootstrap_parses_every_attribute_as_translator_does(tmp_path: Any) -> None:
    bundle = tmp_path / "percus-embed-sdk.js"
    bundle.write_bytes(build_bundles()["percus-embed-sdk.js"])
    token = {"data-percus-share-token": "pt1.token"}
    cases = [(attribute, raw) for attribute in PERCUS_ATTRIBUTES
             if attribute.name != "data-percus-share-token" for raw in RAW]
    pages = [{**token, **({} if raw is None else {attribute.name: raw})} for attribute, raw in cases]
    done = subprocess.run(["node", "-e", RUNNER, str(bundle)], input=json.dumps(pages), capture_output=True,
                          text=True, check=True)
    results = json.loads(done.stdout)
    defaults = {camel(a.name): parse_value(a.value, None, name=a.name).value for a in PERCUS_ATTRIBUTES}
    for (attribute, raw), result in zip(cases, results, strict=True):
        expected = parse_value(attribute.value, raw, name=attribute.name)
        settings = {**defaults, "shareToken": "pt1.token", camel(attribute.name): expected.value}
        assert result["settings"] == settings, (attribute.name, raw)
        assert bool(result["warned"]) == (expected.warning is not None), (attribute.name, raw)
        assert all(attribute.name in warning for warning in result["warned"])
