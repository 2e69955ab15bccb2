"""openapi.json: the API description, made from template.yaml's routes and the handlers' pydantic
models (mediagen.payloads). `make openapi` writes it; a test checks that it is current, and the local
service serves it at /openapi.json."""

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from infra.cfn_functions import HttpRoute, http_routes
from infra.cfn_template import load_template
from mediagen import payloads

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "openapi.json"
USER, WEBHOOK = "user", "webhook"


@dataclass(frozen=True)
class Operation:
    """What a route takes and answers: names of models in mediagen.payloads, and its error statuses."""

    summary: str
    caller: str  # USER (bearer token) or WEBHOOK (Standard Webhooks signature)
    response: str | None
    request: str | None = None
    query: str | None = None
    status: int = 200
    errors: tuple[int, ...] = (401, 404, 503)


_GENERATE = Operation(
    "Ask for a generation (one job id end to end)",
    USER,
    "GenerateAnswer",
    request="GenerateRequest",
    status=202,
    errors=(400, 401, 409, 413, 415, 422, 429, 503),
)
_WEBHOOK = Operation(
    "Completion webhook of the generation backend",
    WEBHOOK,
    "WebhookAnswer",
    request="CompletionWebhook",
    errors=(400, 401, 409, 413, 415, 422, 503),
)
_STATUS = Operation("A job's status (polled)", USER, "StatusView")
_RESULT = Operation(
    "A completed job's files, as signed URLs", USER, "ResultView", errors=(401, 404, 409, 503)
)
_CANCEL = Operation("Cancel a job (its author only)", USER, "StatusView", errors=(401, 404, 409, 503))

# Every route of template.yaml; a route missing here is described without its bodies (a test says so).
OPERATIONS: dict[str, Operation] = {
    "POST /api/images/generate": _GENERATE,
    "POST /api/videos/generate": _GENERATE,
    "GET /api/images/{job_id}/status": _STATUS,
    "GET /api/videos/{job_id}/status": _STATUS,
    "GET /api/images/{job_id}/result": _RESULT,
    "GET /api/videos/{job_id}/result": _RESULT,
    "POST /api/images/{job_id}/cancel": _CANCEL,
    "POST /api/videos/{job_id}/cancel": _CANCEL,
    "POST /api/webhooks/image-completion": _WEBHOOK,
    "POST /api/webhooks/video-completion": _WEBHOOK,
    "GET /api/notifications": Operation(
        "The caller's notifications, newest first", USER, "NotificationsPage", query="NotificationsQuery"
    ),
    "POST /api/notifications/{notification_id}/read": Operation(
        "Mark a notification read", USER, "NotificationView"
    ),
}
ERROR_TEXT = {
    400: "Malformed body",
    401: "No token, bad token, or bad webhook signature",
    404: "No such job or notification, or one the caller may not see (the same answer)",
    409: "Conflict: a result before completion (with `status`), a job id of another user, a final job",
    413: "Body over the size limit",
    415: "The body must be application/json",
    422: "The payload fails validation",
    429: "Too many jobs in flight (code too_many_jobs_in_flight); retry after the Retry-After header",
    503: "A temporary fault; retry",
}
SECURITY_SCHEMES = {
    USER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "Clerk session token"},
    WEBHOOK: {
        "type": "apiKey",
        "in": "header",
        "name": "webhook-signature",
        "description": "Standard Webhooks: webhook-id, webhook-timestamp and webhook-signature headers",
    },
}


def _model(name: str | None) -> type[BaseModel] | None:
    return getattr(payloads, name) if name else None


def build_openapi() -> dict[str, Any]:
    # `$default` answers the contract's 404/405 for what is not an operation: not one itself.
    routes = [(route, OPERATIONS.get(route.route_key)) for route in http_routes() if not route.is_default]
    wanted: list[tuple[type[BaseModel], Any]] = [(payloads.ErrorBody, "serialization")]
    for _, operation in routes:
        if operation:
            for name, mode in ((operation.request, "validation"), (operation.response, "serialization")):
                model = _model(name)
                if model and (model, mode) not in wanted:
                    wanted.append((model, mode))
    refs, definitions = models_json_schema(wanted, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for route, operation in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, operation, refs)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mediagen",
            "version": version,
            "description": " ".join(str(load_template().get("Description", "")).split()),
        },
        "paths": paths,
        "components": {"schemas": definitions.get("$defs", {}), "securitySchemes": SECURITY_SCHEMES},
    }


def _operation(route: HttpRoute, operation: Operation | None, refs: dict[Any, Any]) -> dict[str, Any]:
    error_ref = refs[(payloads.ErrorBody, "serialization")]
    if operation is None:
        return {
            "operationId": route.function,
            "summary": f"{route.route_key} (not described yet: add it to infra/openapi.py)",
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
        success["content"] = {"application/json": {"schema": refs[(response, "serialization")]}}
    described: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": operation.summary,
        "x-function": route.function,
        "security": [{operation.caller: []}],
        "responses": {
            str(operation.status): success,
            **{
                str(status): {
                    "description": ERROR_TEXT[status],
                    "content": {"application/json": {"schema": error_ref}},
                }
                for status in operation.errors
            },
        },
    }
    if parameters:
        described["parameters"] = parameters
    request = _model(operation.request)
    if request:
        described["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(request, "validation")]}},
        }
    return described


def _operation_id(route: HttpRoute) -> str:
    words = re.findall(r"[a-z0-9]+", f"{route.method.lower()} {route.path.replace('{', '').replace('}', '')}")
    return words[0] + "".join(word.capitalize() for word in words[1:] if word != "api")


def render() -> str:
    return json.dumps(build_openapi(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
