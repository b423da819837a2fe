"""The JS build: renders the templates in js/src with translator's tables, minifies, writes js/dist.

Minified by terser (npm, pinned by js/package-lock.json; `make node` installs it): it renames local
names, which a whitespace-only minifier cannot, and that is what keeps the bootstrap in its budget
(rjsmin left 3,931 bytes gzipped where terser leaves 3,258, on the same source).

Each bundle's template (js/src/<bundle>.j2) is the list of the partials it is made of, included in
order: js/src/parts/bootstrap/, tracking/ and compat/, and parts/shared/ for code two bundles hold
alike. An optional partial is included only when its build flag (FEATURES) is on.

Every `{{ … }}` in a template is emitted as a JSON literal escaped for JavaScript (see `js_literal`),
so a table value can never break out of its string or out of an inline `<script>`. Bundles are
built in BUNDLES order and a template may use the version of any bundle built before it: the
bootstrap loads the tracking module by its versioned, immutable URL.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from js.attributes import attribute_rows, boolean_words
from js.compat import compat_context
from js.dist import BUNDLES, DIST, version_of
from js.types import TYPES_FILE, render_types
from translator.canonical import CONSENT_FREE_TYPES, EVENT_MODELS, EVENT_TYPES
from translator.js_tables import export_tables

JS_DIR = Path(__file__).resolve().parent
SRC = JS_DIR / "src"
TERSER = JS_DIR / "node_modules" / "terser" / "bin" / "terser"
# ES2021 like the sources; strings kept ASCII, and nothing that could end an inline <script>.
TERSER_OPTIONS = ["--ecma", "2021", "--compress", "--mangle",
                  "--format", "ascii_only=true,inline_script=true"]
# Bytes per bundle, minified and gzipped at level 9 (as /sdk/ serves them); the compat script also
# carries Individeo's name tables. Checked by tests/js/test_build.py, reported by bench/bundles.py.
BYTE_BUDGETS = {"percus-tracking.js": 4096, "percus-embed-sdk.js": 3072, "percus-individeo-compat.js": 6144}

# Build flags: the optional partials, each on by default (the defaults build the committed js/dist).
# One turned off leaves its code out of its bundle, for sites that do without it.
FEATURES = {
    # percus-tracking.js: mirror a few events into window.dataLayer (data-percus-enable-ga, …)
    "ga_forwarding": True,
    # percus-tracking.js: mirror the same events to the page's Adobe library (data-percus-enable-adobe)
    "adobe_forwarding": True,
    # percus-embed-sdk.js: replay the calls the loader snippet queued before the script arrived
    "loader_queue": True,
}

# Canonical events the SDK makes itself rather than relaying from the player: the tracking module
# opens each session, the bootstrap records consent decisions.
SDK_EVENTS = ("session.started", "consent.accepted", "consent.declined")
# Mirrored by the tracking module into window.dataLayer (GA forwarding) and to the page's Adobe library
# (Adobe forwarding), so only with consent: a viewing's milestones, without identifiers.
FORWARDED_EVENTS = ("video.played", "video.progressed", "video.completed", "cta.clicked")
# Sent by the bootstrap itself (without the tracking module): their payloads' name fields are the only
# ones it cuts; the tracking module cuts every name field of the events it sends.
BOOTSTRAP_SENT = ("consent.accepted", "consent.declined", "video.errored")

_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_UNSAFE_RE = re.compile("[<>&\u2028\u2029]")


def js_literal(value: Any) -> str:
    """`value` as a JavaScript literal: JSON, with the characters that could end a script escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _UNSAFE_RE.sub(lambda match: _UNSAFE[match.group()], text)


def gzipped_size(content: bytes) -> int:
    """The bytes a browser downloads for a bundle served gzipped."""
    return len(gzip.compress(content, 9, mtime=0))


def template_context(versions: dict[str, str], features: Mapping[str, bool] | None = None) -> dict[str, Any]:
    """What the templates read: translator's tables, reshaped for compact JavaScript, and the flags."""
    tables = export_tables()
    unknown = set(SDK_EVENTS + FORWARDED_EVENTS) - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"not canonical event types: {sorted(unknown)}")
    return {
        "schema_version": tables["schema_version"],
        "attributes": attribute_rows(tables["percus_attributes"], tracking=False),
        "tracking_attributes": attribute_rows(tables["percus_attributes"], tracking=True),
        "boolean_words": boolean_words(tables["boolean_words"]),
        "name_fields": tables["name_fields"],
        "bootstrap_name_fields": [name for name in tables["name_fields"]
                                  if any(name in _payload_fields(sent) for sent in BOOTSTRAP_SENT)],
        "name_max_chars": tables["name_max_chars"],
        "locale_pattern": tables["locale_pattern"],
        "locale_max_chars": tables["locale_max_chars"],
        "consent_free_types": sorted(CONSENT_FREE_TYPES),
        "relayed_types": [name for name in tables["event_types"] if name not in SDK_EVENTS],
        "forwarded_types": list(FORWARDED_EVENTS),
        "versions": versions,
        "compat": compat_context(tables),
        "features": with_features(features),
    }


def _payload_fields(event_type: str) -> set[str]:
    payload = EVENT_MODELS[event_type].model_fields["payload"].annotation
    return set(getattr(payload, "model_fields", {}))


def with_features(features: Mapping[str, bool] | None = None) -> dict[str, bool]:
    """FEATURES with `features` applied over it; a flag the build does not know is an error."""
    unknown = set(features or {}) - set(FEATURES)
    if unknown:
        raise ValueError(f"unknown build flags: {sorted(unknown)} (known: {sorted(FEATURES)})")
    return {**FEATURES, **(features or {})}


def _environment() -> jinja2.Environment:
    # No HTML autoescape: the output is JavaScript, escaped by js_literal on every expression. A line
    # holding only a {% … %} tag (an include, a flag's if) leaves nothing in the output.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(SRC), autoescape=False,
                              undefined=jinja2.StrictUndefined, finalize=js_literal,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def render(name: str, versions: dict[str, str], features: Mapping[str, bool] | None = None) -> str:
    """One bundle's source before minification, with `features` over the default build flags."""
    return _environment().get_template(f"{name}.j2").render(template_context(versions, features))


@functools.lru_cache(maxsize=64)
def minify(source: str) -> bytes:
    """`source` minified by the pinned terser (the same source always gives the same bytes)."""
    if not TERSER.is_file():
        raise RuntimeError(f"{TERSER} is missing: run `make node` (npm ci in js/) to install the minifier")
    done = subprocess.run(["node", str(TERSER), *TERSER_OPTIONS], input=source.encode(), capture_output=True,
                          check=False)
    if done.returncode:
        raise RuntimeError(f"terser failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.rstrip(b"\n")


def build_bundles(out_dir: Path | None = None,
                  features: Mapping[str, bool] | None = None) -> dict[str, bytes]:
    """Every bundle, minified, with `features` over the default build flags; written to `out_dir`
    when given (DIST is what the gateway serves)."""
    bundles: dict[str, bytes] = {}
    versions: dict[str, str] = {}
    for name in BUNDLES:
        bundles[name] = minify(render(name, versions, features)) + b"\n"
        versions[name] = version_of(bundles[name])
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, content in bundles.items():
            path = out_dir / name
            if not path.exists() or path.read_bytes() != content:
                path.write_bytes(content)
    return bundles


def build_types(out_dir: Path | None = None) -> bytes:
    """percus.d.ts (js/types.py), written to `out_dir` when given and different."""
    content = render_types().encode()
    if out_dir is not None and (not (out_dir / TYPES_FILE).exists()
                                or (out_dir / TYPES_FILE).read_bytes() != content):
        (out_dir / TYPES_FILE).write_bytes(content)
    return content


def stale_bundles(dist: Path | None = None) -> list[str]:
    """Files of `dist` (default DIST: the bundles and percus.d.ts) that differ from, or are missing
    against, a fresh build."""
    dist = dist or DIST
    built = {**build_bundles(), TYPES_FILE: build_types()}
    return [name for name, content in built.items()
            if not (dist / name).is_file() or (dist / name).read_bytes() != content]


def run(check: bool = False) -> int:
    """`percus build-js [--check]`: rewrite js/dist, or only name the stale bundles (exit 1)."""
    if check:
        stale = stale_bundles()
        for name in stale:
            print(f"stale: {DIST / name} (run `percus build-js`)", file=sys.stderr)
        return 1 if stale else 0
    for name, content in build_bundles(DIST).items():
        print(f"{DIST / name}: {len(content)} bytes, {gzipped_size(content)} gzipped")
    print(f"{DIST / TYPES_FILE}: {len(build_types(DIST))} bytes")
    return 0
