"""The built bundles as the gateway serves them: where they lie and how each is versioned. Apart from
the build (js/build.py: Jinja, terser, translator's tables) so that serving never loads the build tool."""

from __future__ import annotations

import hashlib
from pathlib import Path

DIST = Path(__file__).resolve().parent / "dist"
BUNDLES = ("percus-tracking.js", "percus-embed-sdk.js", "percus-individeo-compat.js")


def version_of(content: bytes) -> str:
    """The `?v=` of a bundle: changes whenever its bytes do."""
    return hashlib.sha256(content).hexdigest()[:12]
