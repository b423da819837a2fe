"""The three apps are built from the route sets they serve: the ingest function loads nothing of the
reporting side, the API function serves everything but ingest and the demo, `percus serve` all, and
its metrics (tests/gateway/test_metrics.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from starlette.routing import Route
from starlette.testclient import TestClient

from deploy.template import template
from gateway import demo, metrics
from gateway.app import API, LOCAL, create_api_app, create_app
from gateway.ingest_app import INGEST, create_ingest_app
from pipeline.config import load_settings
from pipeline.queue.local import LocalQueue

REPO = Path(__file__).resolve().parents[2]
REPORTING = ("gateway.dashboard", "gateway.dashboard_pages", "gateway.reports_api", "gateway.exports_api",
             "gateway.player", "pipeline.reporting.reports", "pipeline.query", "pipeline.reporting.exports",
             "duckdb", "sqlglot", "jinja2")
# Loaded when the app is built (its queue, store and secrets, Mangum), not when the handler is imported.
NOT_AT_IMPORT = ("boto3", "botocore", "s3transfer", "pipeline.store.s3", "pipeline.queue.sqs",
                 "gateway.openapi", "mangum")
# Never loaded by the ingest function: the embedded default's backends (bench/coldstart.py).
NOT_IN_LAMBDA = ("pipeline.queue.local", "pipeline.store.local", "pipeline.queue.dead_letters",
                 "pipeline.queue.scrub", "pipeline.mail.outbox", "pipeline.mail.ses")


def test_local_serves_every_set() -> None:
    assert set(LOCAL) == {*INGEST, *API, demo, metrics} and len(LOCAL) == len(set(LOCAL))


def test_the_ingest_function_imports_nothing_of_the_reporting_side_nor_boto3() -> None:
    absent = REPORTING + NOT_AT_IMPORT + NOT_IN_LAMBDA
    probe = ("import gateway.lambda_ingest, json, sys; "
             f"print(json.dumps([m for m in {absent!r} if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=True)
    assert json.loads(done.stdout) == []


def test_the_ingest_functions_import_builds_no_event_schema_and_loads_no_ua_parser() -> None:
    # The validators and ua-parser load on the first request that needs them (bench/coldstart.py).
    probe = ("import gateway.lambda_ingest, json, sys; from translator.canonical import EVENT_MODELS; "
             "print(json.dumps([[m.__name__ for m in EVENT_MODELS.values() if m.__pydantic_complete__], "
             "[m for m in ('ua_parser', 'yaml') if m in sys.modules]]))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=True)
    assert json.loads(done.stdout) == [[], []]


def test_the_lambda_functions_skip_pydantics_plugin_search() -> None:
    # Without PYDANTIC_DISABLE_PLUGINS, the first model built at import searches the entry points of
    # every installed package (bench/coldstart.py); the template's environment turns that off.
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    env = {**os.environ, **{name: value for name, value in variables.items() if isinstance(value, str)}}
    probe = "import gateway.lambda_ingest, pydantic.plugin._loader as loader; print(loader._plugins is None)"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "True"


def test_only_apps_that_take_events_load_ua_parsers_rules_and_build_the_validators_at_startup(
        tmp_path: Path) -> None:
    # A fresh interpreter: this one may have parsed a User-Agent already. The API app enriches no event.
    probe = """if True:
        import json, sys, ua_parser
        from starlette.testclient import TestClient
        from gateway.app import create_api_app
        from gateway.ingest_app import create_ingest_app
        from pipeline.config import load_settings
        from pipeline.queue.local import LocalQueue
        from translator.canonical import EVENT_MODELS
        from translator.event_parser import v1_adapter
        def started():
            return ["parser" in vars(ua_parser), v1_adapter.cache_info().currsize == 1,
                    all(model.__pydantic_complete__ for model in EVENT_MODELS.values())]
        settings = load_settings({"PERCUS_DATA_DIR": sys.argv[1], "PERCUS_TOKEN_KEYS": "k:s"})
        with TestClient(create_api_app(settings)):
            loaded = [started()]
        with LocalQueue(settings.data_dir / "queue") as queue, TestClient(create_ingest_app(settings, queue)):
            loaded.append(started())
        print(json.dumps(loaded))
    """
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == [[False, False, False], [True, True, True]]


def test_each_app_serves_its_routes(tmp_path: Path) -> None:
    settings = load_settings({"PERCUS_DATA_DIR": str(tmp_path), "PERCUS_TOKEN_KEYS": "k:s"})

    def served(app: object) -> set[tuple[str, str]]:
        return {(method, route.path) for route in app.routes  # type: ignore[attr-defined]
                if isinstance(route, Route) for method in route.methods or ()}

    with LocalQueue(tmp_path / "queue") as queue:
        ingest, local = served(create_ingest_app(settings, queue)), served(create_app(settings, queue))
    api = served(create_api_app(settings))
    assert ("POST", "/analytics/v1/events") in ingest and ("POST", "/api/indiTrack") in ingest
    assert not any(path.startswith(("/dashboard", "/sdk/")) for _, path in ingest)
    assert ("GET", "/analytics/v1/legacy/embeds/{attachment_code}") in api
    assert not any(method == "POST" and path in ("/analytics/v1/events", "/api/indiTrack")
                   for method, path in api)
    assert ("GET", "/demo") not in api and ("GET", "/demo") in local
    assert api | ingest <= local


def test_no_lambda_function_mints_demo_tokens(tmp_path: Path) -> None:
    # The demo hands a share token of the demo organization to anyone who asks: a laptop's, never AWS's.
    settings = load_settings({"PERCUS_DATA_DIR": str(tmp_path), "PERCUS_TOKEN_KEYS": "k1:" + "s" * 32})
    with LocalQueue(tmp_path / "queue") as queue:
        apps = {"api": create_api_app(settings), "ingest": create_ingest_app(settings, queue)}
        for name, app in apps.items():
            with TestClient(app) as client:
                for path in (demo.PATH, demo.PATH + "/", demo.PATH + "?org=demo"):
                    answer = client.get(path)
                    assert answer.status_code == 404, (name, path, answer.text)
                    assert "pt1." not in answer.text
        with TestClient(create_app(settings, queue)) as local:
            assert local.get(demo.PATH).status_code == 200
