"""What each route of openapi.json takes and answers (deploy/openapi.py builds the description): the
names of its pydantic models in mediagen.contract.payloads, its examples, every error status it can
answer; the error bodies, their headers, and the security schemes.

Why the bodies are not next to the routes: Powertools' OpenAPI support describes a request body,
query or response model only from a handler's annotated parameters and return type, which it then
validates itself (`enable_validation`). Our handlers parse bodies themselves, on purpose (the size
checked before parsing, strict JSON: no duplicate keys, no NaN; the contract's error bodies), so the
models, the examples and the error statuses stay in one table here, OPERATIONS."""

from dataclasses import dataclass, replace
from typing import Any

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
