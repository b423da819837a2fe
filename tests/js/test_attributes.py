"""The bundles parse data-percus-* attributes exactly as translator's parse_value does: the built
bootstrap and tracking module run in node (a bare DOM of their own), embed one element per case and
track it, and its settings and warnings are compared with translator's, for every attribute."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from js.attributes import TRACKING_ATTRIBUTES
from js.build import build_bundles
from translator.embed_attributes import PERCUS_ATTRIBUTES, parse_value

RAW: list[str | None] = [None, "", "  ", "true", " TRUE ", "1", "Yes", "on", "false", "Off", "n", "0",
                         "maybe", "uat", "Production", "dev", "STAGING", "es-CL", " spaced value ",
                         # names Object.prototype has: no word of a boolean or an enum
                         "constructor", "__proto__", "toString"]

# Just enough of a page for Percus.embed(element): the element's attributes and console warnings.
RUNNER = r"""
const vm = require("vm"), fs = require("fs");
const cases = JSON.parse(fs.readFileSync(0, "utf8"));
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
for (const bundle of process.argv.slice(1)) vm.runInContext(fs.readFileSync(bundle, "utf8"), page);
const Percus = vm.runInContext("Percus", page);
const results = cases.map((attributes) => {
  warnings.length = 0;
  const element = {...node(), getAttribute: (name) => attributes[name] ?? null};
  const embed = Percus.embed(element), before = Object.keys(embed.settings);
  Percus._.tracker(embed);  // the tracking module parses the attributes only it reads
  const warned = warnings.filter((w) => w.startsWith("Percus: data-percus-"));
  return {before, settings: embed.settings, warned};
});
process.stdout.write(JSON.stringify(results));
"""


def camel(name: str) -> str:
    first, *rest = name.removeprefix("data-percus-").split("-")
    return first + "".join(part.title() for part in rest)


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the bundle")
def test_the_bootstrap_parses_every_attribute_as_translator_does(tmp_path: Any) -> None:
    for name, content in build_bundles().items():
        (tmp_path / name).write_bytes(content)
    token = {"data-percus-share-token": "pt1.token"}
    cases = [(attribute, raw) for attribute in PERCUS_ATTRIBUTES
             if attribute.name != "data-percus-share-token" for raw in RAW]
    pages = [{**token, **({} if raw is None else {attribute.name: raw})} for attribute, raw in cases]
    bundles = [str(tmp_path / "percus-embed-sdk.js"), str(tmp_path / "percus-tracking.js")]
    done = subprocess.run(["node", "-e", RUNNER, *bundles], input=json.dumps(pages), capture_output=True,
                          text=True, check=True)
    results = json.loads(done.stdout)
    defaults = {camel(a.name): parse_value(a.value, None, name=a.name).value for a in PERCUS_ATTRIBUTES}
    bootstrap_parsed = [camel(a.name) for a in PERCUS_ATTRIBUTES if a.name not in TRACKING_ATTRIBUTES]
    for (attribute, raw), result in zip(cases, results, strict=True):
        expected = parse_value(attribute.value, raw, name=attribute.name)
        settings = {**defaults, "shareToken": "pt1.token", camel(attribute.name): expected.value}
        assert result["settings"] == settings, (attribute.name, raw)
        # Before the tracking module tracked the embed, the bootstrap had parsed what it reads.
        assert result["before"] == bootstrap_parsed
        assert bool(result["warned"]) == (expected.warning is not None), (attribute.name, raw)
        assert all(attribute.name in warning for warning in result["warned"])
