from __future__ import annotations

import re
from typing import Any, ClassVar

import pytest
from starlette.routing import Route

from gateway import openapi
from gateway.app import LOCAL
from gateway.bodies import ErrorBody
from tests.gateway._client import EVENTS, Gateway
from translator.canonical import EVENT_TYPES


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [ref for key, value in node.items()
                for ref in ([value] if key == "$ref" else _refs(value))]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def test_health_endpoints(gateway: Gateway) -> None:
    assert gateway.client.get("/healthz").json() == {"status": "ok"}
    assert gateway.client.get("/readyz").json() == {"status": "ready"}


def test_document_lists_every_api_route_and_method_and_no_page(gateway: Gateway) -> None:
    response = gateway.client.get("/analytics/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    pages = {path for module in LOCAL if module.TAG is None for path in module.PATHS}
    assert {"/dashboard/sign-in", "/player", "/demo"} <= pages
    routes = [route for route in gateway.client.app.routes if isinstance(route, Route)]  # type: ignore[attr-defined]
    assert routes
    for route in routes:
        if route.path in pages:
            assert route.path not in document["paths"]
            continue
        methods = {method.lower() for method in route.methods or ()} - {"head"}
        assert methods <= set(document["paths"][route.path]), route.path


def test_every_operation_is_named_and_tagged_for_client_generators(gateway: Gateway) -> None:
    document = gateway.client.get("/analytics/v1/openapi.json").json()
    operations = [operation for item in document["paths"].values() for operation in item.values()]
    ids = [operation["operationId"] for operation in operations]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in ids)
    assert all(len(operation["tags"]) == 1 for operation in operations)
    assert {"ingest", "legacy", "health", "sdk", "reports", "exports", "meta"} <= {
        operation["tags"][0] for operation in operations}
    assert document["servers"] == [{"url": "/", "description": "The gateway that serves this document"}]


def test_an_operation_without_an_id_fails_the_document() -> None:
    class Module:
        TAG = "x"
        PATHS: ClassVar[dict[str, Any]] = {"/x": {"get": {"summary": "no id", "responses": {}}}}

    with pytest.raises(ValueError, match="operationId"):
        openapi.document([Module])


def test_ingest_documents_every_status_code(gateway: Gateway) -> None:
    post = gateway.client.get("/analytics/v1/openapi.json").json()["paths"][EVENTS]["post"]
    assert set(post["responses"]) == {"202", "400", "401", "403", "413", "415", "429", "503"}
    assert set(post["requestBody"]["content"]) == {"application/json", "text/plain"}


def test_schemas_come_from_the_models_and_every_reference_resolves(gateway: Gateway) -> None:
    document = gateway.client.get("/analytics/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert set(schemas["CanonicalEvent"]["discriminator"]["mapping"]) == set(EVENT_TYPES)
    assert schemas["Batch"]["properties"]["events"]["maxItems"] == 500
    assert set(schemas["IngestResult"]["required"]) == {"accepted", "duplicates", "rejected"}
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref


def test_error_answers_match_the_documented_error_body(gateway: Gateway) -> None:
    response = gateway.post({"events": []})
    assert response.status_code == 400
    assert ErrorBody.model_validate_json(response.content).error.code == "empty_batch"
