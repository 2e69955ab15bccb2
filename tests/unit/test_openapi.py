"""openapi.json is generated from the payload models and template.yaml's routes, and kept current."""

import json
from typing import Any

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from deploy.base.cfn_functions import http_routes
from deploy.openapi import OUTPUT, build_openapi, render, route_metadata
from deploy.openapi_operations import ERROR_SCHEMA, OPERATIONS
from mediagen.contract import payloads


def test_openapi_json_is_current() -> None:
    assert OUTPUT.read_text(encoding="utf-8") == render(), "openapi.json is stale: run `make openapi`"


def test_every_route_of_the_template_is_described() -> None:
    routes = [route for route in http_routes() if not route.is_default]  # $default: not an operation
    missing = [route.route_key for route in routes if route.route_key not in OPERATIONS]
    assert missing == [], f"describe these routes in deploy/openapi_operations.py OPERATIONS: {missing}"
    paths = build_openapi()["paths"]
    assert "$default" not in paths
    for route in routes:
        assert route.method.lower() in paths[route.path]


def test_each_route_says_its_summary_and_security_on_its_decorator() -> None:
    """Powertools' route metadata, next to the route, is what the description says of it."""
    metadata = route_metadata()
    paths = build_openapi()["paths"]
    for route in [route for route in http_routes() if not route.is_default]:
        decorated = metadata[route.route_key]
        assert decorated.summary, f"{route.route_key}: its decorator has no summary"
        assert decorated.security, f"{route.route_key}: its decorator has no security"
        described = paths[route.path][route.method.lower()]
        assert described["summary"] == decorated.summary
        for status, answer in (decorated.responses or {}).items():
            assert described["responses"][str(status)]["description"] == answer["description"]


def test_every_reference_resolves() -> None:
    document = build_openapi()
    text = json.dumps(document)
    schemas = document["components"]["schemas"]
    for reference in set(part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]):
        assert reference in schemas, reference


def test_webhook_body_is_the_completion_payload() -> None:
    operation = build_openapi()["paths"]["/api/webhooks/image-completion"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/CompletionWebhook"}
    assert operation["security"] == [{"webhookId": [], "webhookTimestamp": [], "webhook": []}]
    schemes = build_openapi()["components"]["securitySchemes"]
    assert {schemes[name]["name"] for name in operation["security"][0]} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }


def test_the_description_is_valid_openapi() -> None:
    validate(build_openapi())  # openapi-spec-validator: raises on any fault


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in build_openapi()["paths"].items()
        for method, operation in methods.items()
    ]


@pytest.mark.parametrize(("route", "statuses"), [
    ("POST /api/images/generate", {"200", "202", "400", "401", "409", "413", "415", "422", "429", "503"}),
    ("POST /api/videos/{job_id}/cancel", {"200", "401", "403", "404", "409", "503"}),
    ("GET /api/notifications", {"200", "400", "401", "422", "503"}),
    ("GET /api/images/{job_id}/result", {"200", "401", "404", "409", "503"}),
    ("POST /api/webhooks/video-completion", {"200", "400", "401", "409", "413", "415", "422", "503"}),
])  # fmt: skip
def test_every_status_a_route_answers_is_described(route: str, statuses: set[str]) -> None:
    method, path = route.split(" ")
    responses = build_openapi()["paths"][path][method.lower()]["responses"]
    assert set(responses) == statuses
    for status, response in responses.items():
        if int(status) >= 400:
            content = response["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/Error"}
            assert {"code", "message"} <= set(content["example"])
    if "429" in responses:
        assert responses["429"]["content"]["application/json"]["example"]["code"] == "too_many_jobs_in_flight"
        assert responses["429"]["headers"]["Retry-After"]["required"] is True


def test_every_example_is_valid_for_its_schema() -> None:
    checked = 0
    for _, path, operation in operations():
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        if "example" in body:
            model: type[BaseModel] = getattr(payloads, body["schema"]["$ref"].rsplit("/", 1)[-1])
            model.model_validate(body["example"])
            checked += 1
        for status, response in operation["responses"].items():
            content = response.get("content", {}).get("application/json", {})
            if "example" not in content:
                continue
            name = content["schema"]["$ref"].rsplit("/", 1)[-1]
            if name == "Error":
                assert set(content["example"]) <= set(ERROR_SCHEMA["properties"]), (path, status)
            else:
                view: type[BaseModel] = getattr(payloads, name)
                parsed = view.model_validate(content["example"])
                other, text = ("image" if "/videos/" in path else "video"), parsed.model_dump_json()
                assert f'"{other}"' not in text and f"{other}s/" not in text, (path, status)
            checked += 1
    assert checked > 40


def test_servers_and_security_for_every_operation() -> None:
    document = build_openapi()
    assert [server["description"] for server in document["servers"]] == [
        "make run",
        document["servers"][1]["description"],
    ]
    assert document["servers"][0]["variables"]["port"]["default"] == "3000"
    for method, path, operation in operations():
        expected = "webhookId" if "/webhooks/" in path else "user"
        assert expected in operation["security"][0], (method, path)


def test_the_contracts_enums_and_fields_are_typed_not_plain_strings() -> None:
    """What a client switches on is typed, so the generated TypeScript keeps it: a notification's
    `type` and its `metadata` fields, a job's `source`, a file's `format`."""
    schemas = build_openapi()["components"]["schemas"]
    notification = schemas["NotificationView"]["properties"]
    assert notification["type"]["enum"] == [
        "IMAGE_COMPLETED",
        "IMAGE_FAILED",
        "VIDEO_COMPLETED",
        "VIDEO_FAILED",
    ]
    assert notification["metadata"] == {"$ref": "#/components/schemas/NotificationMetadata"}
    metadata = schemas["NotificationMetadata"]
    assert set(metadata["required"]) == {"generation_id", "source"}
    assert metadata["properties"]["source"]["enum"] == ["front-end", "backend-direct"]
    assert set(schemas["ImageView"]["properties"]["format"]["enum"]) == {"png", "jpeg", "jpg", "webp"}
    assert set(schemas["VideoView"]["properties"]["format"]["enum"]) == {"mp4", "webm"}
    typescript = (OUTPUT.parent / "kits" / "frontend" / "src" / "schema.d.ts").read_text(encoding="utf-8")
    assert 'type: "IMAGE_COMPLETED" | "IMAGE_FAILED" | "VIDEO_COMPLETED" | "VIDEO_FAILED";' in typescript
    assert 'source: "front-end" | "backend-direct";' in typescript
