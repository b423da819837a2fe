"""A native client generated from the served OpenAPI document by openapi-python-client, as an
integrator would make one (docs/api.md, "Clients"), sends events to a real `percus serve`."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.reliability._serve import event, serving, token

pytestmark = pytest.mark.slow

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "percus_api_client"
# The ingest endpoint takes text/plain too (the browser's preflight-free form), carrying the same JSON:
# the generator is told so, as docs/api.md tells integrators. No post hooks: the output is not linted.
CONFIG = "content_type_overrides:\n  text/plain: application/json\npost_hooks: []\n"


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[tuple[str, str, ModuleType]]:
    """(gateway URL, share token, the generated package) over a running `percus serve`."""
    data_dir = tmp_path / "data"
    with serving(data_dir, tmp_path / "serve.log") as server:
        (tmp_path / "openapi.json").write_text(httpx.get(f"{server.base}/analytics/v1/openapi.json").text)
        (tmp_path / "config.yaml").write_text(CONFIG)
        done = subprocess.run([str(GENERATOR), "generate", "--path", str(tmp_path / "openapi.json"),
                               "--meta", "none", "--output-path", str(tmp_path / PACKAGE),
                               "--config", str(tmp_path / "config.yaml")],
                              capture_output=True, text=True, timeout=300, check=False)
        output = done.stdout + done.stderr
        assert done.returncode == 0 and "warning" not in output.lower(), output
        sys.path.insert(0, str(tmp_path))
        try:
            yield server.base, token(data_dir), importlib.import_module(PACKAGE)
        finally:
            sys.path.remove(str(tmp_path))
            for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
                del sys.modules[name]


def _module(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def test_the_generated_client_sends_one_event_and_a_batch_of_50(
        generated: tuple[str, str, ModuleType]) -> None:
    base, share_token, package = generated
    send_events = _module(package, "api.ingest.send_events")
    models = _module(package, "models")
    with package.AuthenticatedClient(base_url=base, token=share_token) as client:
        played = models.VideoPlayed.from_dict(event("video.played"))
        one = send_events.sync_detailed(client=client, body=played)
        assert one.status_code == 202, one.content
        assert (one.parsed.accepted, one.parsed.duplicates, one.parsed.rejected) == (1, 0, [])

        batch = models.Batch.from_dict({"events": [event("video.progressed", position_ms=1000 * n, percent=25)
                                                   for n in range(50)]})
        result = send_events.sync(client=client, body=batch)
        assert isinstance(result, models.IngestResult) and result.accepted == 50

        # A refusal parses as the documented error body.
        refused = send_events.sync(client=client, body=models.Batch.from_dict({"events": []}))
        assert isinstance(refused, models.ErrorBody) and refused.error.code == "empty_batch"
