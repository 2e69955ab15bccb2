"""openapi.json: the API description, made from template.yaml's routes, what each route's decorator
says of it (Powertools' route metadata: summary, tags, security, and its own meaning of a status),
and what each route takes and answers (deploy/openapi_operations.py: pydantic models of
mediagen.contract.payloads, examples, the statuses each route can answer). `make openapi` writes it; a
test checks that it is current, and the local service serves it at /openapi.json."""

import importlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.api_gateway import Route
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from deploy.base.cfn_functions import HttpRoute, functions, http_routes
from deploy.base.cfn_template import load_template
from deploy.openapi_operations import (
    ERROR_EXAMPLES,
    ERROR_HEADERS,
    ERROR_SCHEMA,
    ERROR_TEXT,
    OPERATIONS,
    SECURITY_SCHEMES,
    WEBHOOK,
    Operation,
)
from deploy.placeholder_settings import apply_placeholders
from mediagen.contract import payloads

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "openapi.json"


def route_metadata() -> dict[str, Route]:
    """Each route's Powertools route (its decorator's summary, tags, security, responses), by
    template route key, read from the routers of the functions that have one."""
    apply_placeholders()  # the handlers check their settings at import
    routed = {route.function for route in http_routes() if not route.is_default}
    app = APIGatewayHttpResolver()
    for spec in functions():
        if spec.logical_id in routed:
            app.include_router(importlib.import_module(spec.module).router)
    routes = [*app._static_routes, *app._dynamic_routes]  # Powertools keeps them here
    return {f"{route.method} {route.openapi_path}": route for route in routes}


SERVERS = [
    {"url": "http://127.0.0.1:{port}", "description": "make run", "variables": {"port": {"default": "3000"}}},
    {
        "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
        "description": "Deployed stack: the HttpApi's endpoint (stack output)",
        "variables": {"apiId": {"default": "abcdef1234"}, "region": {"default": "us-east-1"}},
    },
]


def _model(name: str | None) -> type[BaseModel] | None:
    return getattr(payloads, name) if name else None


def build_openapi() -> dict[str, Any]:
    # `$default` answers the contract's 404/405 for what is not an operation: not one itself.
    metadata = route_metadata()
    routes = [(route, OPERATIONS.get(route.route_key)) for route in http_routes() if not route.is_default]
    wanted: list[tuple[type[BaseModel], Any]] = []
    for _, operation in routes:
        if operation:
            for name, mode in ((operation.request, "validation"), (operation.response, "serialization")):
                model = _model(name)
                if model and (model, mode) not in wanted:
                    wanted.append((model, mode))
    refs, definitions = models_json_schema(wanted, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for route, operation in routes:
        described = _operation(route, metadata.get(route.route_key), operation, refs)
        paths.setdefault(route.path, {})[route.method.lower()] = described
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mediagen",
            "version": version,
            "description": " ".join(str(load_template().get("Description", "")).split()),
        },
        "servers": SERVERS,
        "paths": paths,
        "components": {
            "schemas": {**definitions.get("$defs", {}), "Error": ERROR_SCHEMA},
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _operation(
    route: HttpRoute, decorated: Route | None, operation: Operation | None, refs: dict[Any, Any]
) -> dict[str, Any]:
    if operation is None or decorated is None or not decorated.summary or not decorated.security:
        return {
            "operationId": route.function,
            "summary": f"{route.route_key} (not described yet: its decorator's summary and security, and "
            "deploy/openapi_operations.py's OPERATIONS)",
            "responses": {"default": {"description": "JSON", "content": {"application/json": {}}}},
        }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)\}", route.path)
    ]
    query = _model(operation.query)
    if query:
        schema = query.model_json_schema()
        parameters += [
            {"name": name, "in": "query", "required": name in schema.get("required", []), "schema": field}
            for name, field in schema["properties"].items()
        ]
    response = _model(operation.response)
    success: dict[str, Any] = {"description": "OK"}
    if response:
        content: dict[str, Any] = {"schema": refs[(response, "serialization")]}
        if operation.response_example:
            content["example"] = _for_kind(operation.response_example, route.path)
        success["content"] = {"application/json": content}
    own = {status: answer["description"] for status, answer in (decorated.responses or {}).items()}
    responses: dict[str, Any] = {str(operation.status): success}
    for status, description in own.items():
        if status < 400:  # another success of the route (its decorator says what it means)
            responses[str(status)] = {**success, "description": description}
    webhook = any(WEBHOOK in requirement for requirement in decorated.security)
    for status in operation.errors:
        answer: dict[str, Any] = {
            "description": own.get(status, ERROR_TEXT[status]),
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"},
                    "example": ERROR_EXAMPLES[status],
                }
            },
        }
        if status in ERROR_HEADERS and not (status == 401 and webhook):
            answer["headers"] = ERROR_HEADERS[status]
        responses[str(status)] = answer
    described: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": decorated.summary,
        "x-function": route.function,
        "security": [
            {name: list(scopes) for name, scopes in dict(req).items()} for req in decorated.security
        ],
        "responses": dict(sorted(responses.items())),
    }
    if decorated.tags:
        described["tags"] = sorted(decorated.tags)
    if parameters:
        described["parameters"] = parameters
    request = _model(operation.request)
    if request:
        body: dict[str, Any] = {"schema": refs[(request, "validation")]}
        if operation.request_example:
            body["example"] = _for_kind(operation.request_example, route.path)
        described["requestBody"] = {"required": True, "content": {"application/json": body}}
    return described


def _for_kind(example: dict[str, Any], path: str) -> dict[str, Any]:
    """An image route's example, told for the video route of the same operation."""
    if "/videos/" not in path:
        return example
    text = json.dumps(example, ensure_ascii=False)
    for image, video in (("images/", "videos/"), ('"image"', '"video"'), ('"images"', '"videos"'),
                         (".png", ".mp4"), ('"format": "png"', '"format": "mp4"')):  # fmt: skip
        text = text.replace(image, video)
    return dict(json.loads(text))


def _operation_id(route: HttpRoute) -> str:
    words = re.findall(r"[a-z0-9]+", f"{route.method.lower()} {route.path.replace('{', '').replace('}', '')}")
    return words[0] + "".join(word.capitalize() for word in words[1:] if word != "api")


def render() -> str:
    return json.dumps(build_openapi(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
