"""openapi.json is generated from the payload models and template.yaml's routes, and kept current."""

import json

from infra.cfn_functions import http_routes
from infra.openapi import OPERATIONS, OUTPUT, build_openapi, render


def test_openapi_json_is_current() -> None:
    assert OUTPUT.read_text(encoding="utf-8") == render(), "openapi.json is stale: run `make openapi`"


def test_every_route_of_the_template_is_described() -> None:
    routes = [route for route in http_routes() if not route.is_default]  # $default: not an operation
    missing = [route.route_key for route in routes if route.route_key not in OPERATIONS]
    assert missing == [], f"describe these routes in infra/openapi.py OPERATIONS: {missing}"
    paths = build_openapi()["paths"]
    assert "$default" not in paths
    for route in routes:
        assert route.method.lower() in paths[route.path]


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
    assert operation["security"] == [{"webhook": []}]
