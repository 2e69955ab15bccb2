"""openapi.json: the API description, made from template.yaml's routes, what each route's decorator
says of it (Powertools' route metadata: summary, tags, security, and its own meaning of a status),
and the bodies below (pydantic models of mediagen.contract.payloads, examples, the statuses each route
can answer). `make openapi` writes it; a test checks that it is current, and the local service
serves it at /openapi.json.

Why the bodies are not next to the routes: Powertools' OpenAPI support describes a request body,
query or response model only from a handler's annotated parameters and return type, which it then
validates itself (`enable_validation`). Our handlers parse bodies themselves, on purpose (the size
checked before parsing, strict JSON: no duplicate keys, no NaN; the contract's error bodies), so the
models, the examples and the error statuses stay in one table here, OPERATIONS."""

import importlib
import json
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.api_gateway import Route
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from deploy.base.cfn_functions import HttpRoute, functions, http_routes
from deploy.base.cfn_template import load_template
from deploy.placeholder_settings import apply_placeholders
from mediagen.contract import payloads

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "openapi.json"
USER, WEBHOOK = "user", "webhook"


@dataclass(frozen=True)
class Operation:
    """What a route takes and answers: names of models in mediagen.contract.payloads, and every error
    status it can answer (each described by ERROR_TEXT, or by the route's decorator `responses`)."""

    response: str | None
    request: str | None = None
    query: str | None = None
    # The success status: a handler's decorator cannot say it (`status_code`), since HTTP statuses are
    # given by mediagen.edge.api alone (tests/unit/test_architecture.py).
    status: int = 200
    errors: tuple[int, ...] = (401, 404, 503)
    request_example: dict[str, Any] | None = None
    response_example: dict[str, Any] | None = None


_ISO = "2026-11-30T18:00:00Z"
_JOB = "cmh3h35780001gg0lwosk26du"
_GENERATE = Operation(
    "GenerateAnswer",
    request="GenerateRequest",
    status=202,
    errors=(400, 401, 409, 413, 415, 422, 429, 503),
    request_example={"prompt": "Un phare breton au coucher du soleil", "job_id": _JOB, "size": "1024x1024"},
    response_example={
        "job_id": _JOB,
        "status": "queued",
        "status_url": f"/api/images/{_JOB}/status",
        "result_url": f"/api/images/{_JOB}/result",
    },
)
_WEBHOOK = Operation(
    "WebhookAnswer",
    request="CompletionWebhook",
    errors=(400, 401, 409, 413, 415, 422, 503),
    request_example={
        "job_id": _JOB,
        "user_id": "user_2abc",
        "status": "completed",
        "progress": 100,
        "data": {
            "original_prompt": "Un phare breton au coucher du soleil",
            "images": [
                {
                    "file_path": f"images/{_JOB}/0.png",
                    "size_bytes": 1482013,
                    "format": "png",
                    "dimensions": "1024x1024",
                }
            ],
            "metadata": {"model_name": "gemini-2.5-flash-image", "generation_time_seconds": 7.8},
        },
    },
    response_example={"job_id": _JOB, "outcome": "updated"},
)
_STATUS_EXAMPLE = {
    "job_id": _JOB,
    "kind": "image",
    "status": "processing",
    "progress": 50,
    "created_at": _ISO,
    "updated_at": _ISO,
}
_STATUS = Operation("StatusView", response_example=_STATUS_EXAMPLE)
_RESULT = Operation(
    "ResultView",
    errors=(401, 404, 409, 503),
    response_example={
        **_STATUS_EXAMPLE,
        "status": "completed",
        "progress": 100,
        "prompt": "Un phare breton au coucher du soleil",
        "model": "gemini-2.5-flash-image",
        "images": [
            {
                "index": 0,
                "url": f"https://bucket.s3.amazonaws.com/images/{_JOB}/0.png?X-Amz-Signature=...",
                "width": 1024,
                "height": 1024,
                "format": "png",
                "size_bytes": 1482013,
                "description": None,
            }
        ],
    },
)
_CANCEL = Operation(
    "StatusView",
    errors=(401, 403, 404, 409, 503),
    response_example={**_STATUS_EXAMPLE, "status": "canceled"},
)

_LIST = Operation(
    "LibraryPage",
    query="LibraryQuery",
    errors=(400, 401, 422, 503),
    response_example={
        "items": [
            {
                **_STATUS_EXAMPLE,
                "status": "completed",
                "progress": 100,
                "dispatched_at": _ISO,
                "finished_at": _ISO,
                "prompt": "Un phare breton au coucher du soleil",
                "model": "gemini-2.5-flash-image",
                "source": "front-end",
                "author_id": "user_2abc",
                "organization_id": None,
                "preview_url": f"https://bucket.s3.amazonaws.com/images/{_JOB}/0.png?X-Amz-Signature=...",
            }
        ],
        "next_cursor": None,
    },
)
_DELETE = Operation(
    "DeleteAnswer",
    errors=(401, 403, 404, 503),
    response_example={"job_id": _JOB, "deleted": True},
)
_CLERK = Operation(
    "ClerkAnswer",
    request="ClerkEvent",
    errors=(400, 401, 413, 415, 422, 503),
    request_example={
        "data": {"deleted": True, "id": "user_29wBMCtzATuFJut8jO2VNTVekS4", "object": "user"},
        "object": "event",
        "type": "user.deleted",
        "timestamp": 1654012591835,
        "instance_id": "ins_123",
    },
    response_example={"event_id": "msg_2abc", "type": "user.deleted", "outcome": "erasing"},
)

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
    "POST /api/webhooks/clerk": _CLERK,
    "POST /api/webhooks/video-completion": replace(
        _WEBHOOK,
        request_example={
            "job_id": _JOB,
            "status": "completed",
            "progress": 100,
            "data": {
                "videos": [
                    {
                        "file_path": f"videos/{_JOB}/0.mp4",
                        "size_bytes": 2482013,
                        "format": "mp4",
                        "dimensions": "1280x720",
                        "duration_seconds": 4,
                        "fps": 24,
                        "thumbnail_path": f"videos/{_JOB}/0.png",
                    }
                ]
            },
        },
    ),
    "GET /api/notifications": Operation(
        "NotificationsPage",
        query="NotificationsQuery",
        errors=(400, 401, 422, 503),
        response_example={
            "items": [
                {
                    "id": f"2026-11-30T18:00:07.812Z_{_JOB}",
                    "type": "IMAGE_COMPLETED",
                    "title": "🎨 Images générées avec succès",
                    "message": "1 image(s) créée(s).",
                    "read": False,
                    "created_at": _ISO,
                    "metadata": {"generation_id": _JOB, "source": "front-end"},
                }
            ],
            "next_cursor": None,
            "unread_count": 1,
        },
    ),
    "POST /api/notifications/{notification_id}/read": Operation("NotificationView"),
    "GET /api/images": _LIST,
    "GET /api/videos": _LIST,
    "DELETE /api/images/{job_id}": _DELETE,
    "DELETE /api/videos/{job_id}": _DELETE,
}
ERROR_TEXT = {
    400: "Malformed body (not UTF-8, not JSON, duplicate keys, too deeply nested)",
    401: "No token, bad token (signature, issuer, expiry, azp)",
    403: "Forbidden",
    404: "No such job or notification, or one the caller may not see (the same answer)",
    409: "Conflict",
    413: "Body over the size limit",
    415: "The body must be application/json",
    422: "The payload fails validation: `errors` lists each field",
    429: "The caller already has the deployment's limit of jobs in flight (`too_many_jobs_in_flight`)",
    503: "A temporary fault on our side (throttling, timeouts); retry",
}
ERROR_EXAMPLES = {
    400: {"code": "malformed_json", "message": "The body is not valid JSON: Expecting value"},
    401: {"code": "unauthorized", "message": "The token is invalid."},
    403: {"code": "not_author", "message": "Only the job's author may cancel it."},
    404: {"code": "not_found", "message": f"No image generation {_JOB}."},
    409: {"code": "conflict", "message": "The job is not completed.", "status": "processing"},
    413: {"code": "payload_too_large", "message": "The body exceeds 65536 bytes."},
    415: {"code": "unsupported_media_type", "message": "The body must be application/json."},
    422: {
        "code": "validation_error",
        "message": "The request is invalid.",
        "errors": [{"field": "prompt", "message": "Field required", "type": "missing"}],
    },
    429: {"code": "too_many_jobs_in_flight", "message": "10 jobs are already in flight; retry later."},
    503: {"code": "service_unavailable", "message": "A temporary fault occurred; retry later."},
}
# Every error body: the contract's `code` and `message`, and for some statuses more (never a trace).
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "description": "Machine-readable, e.g. `invalid_signature`"},
        "message": {"type": "string", "description": "For humans"},
        "status": {
            "type": "string",
            "enum": ["queued", "processing", "completed", "failed", "canceled"],
            "description": "409 of a result asked for too early: the job's current status",
        },
        "errors": {
            "type": "array",
            "description": "422: each failing field (never the input itself)",
            "items": {
                "type": "object",
                "required": ["field", "message", "type"],
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer` (user routes)", "schema": {"type": "string"}}},
    429: {
        "Retry-After": {
            "description": "Seconds before a job is likely to have finished",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    },
    503: {"Retry-After": {"description": "Seconds to wait, when known", "schema": {"type": "integer"}}},
}
WEBHOOK_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
SECURITY_SCHEMES: dict[str, Any] = {
    USER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Clerk session token (RS256; iss, exp, nbf and azp checked): `getToken()`",
    },
    # Standard Webhooks: the three headers together (one security requirement names all three).
    "webhookId": {
        "type": "apiKey",
        "in": "header",
        "name": "webhook-id",
        "description": "Standard Webhooks message id: the same on every retry of one event",
    },
    "webhookTimestamp": {
        "type": "apiKey",
        "in": "header",
        "name": "webhook-timestamp",
        "description": "Unix seconds; more than 5 minutes off is refused",
    },
    WEBHOOK: {
        "type": "apiKey",
        "in": "header",
        "name": "webhook-signature",
        "description": 'Space-separated `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{raw body}">` with '
        "each active `whsec_` secret (any one valid suffices)",
    },
}


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
            "deploy/openapi.py's OPERATIONS)",
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
