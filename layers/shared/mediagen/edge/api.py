"""HTTP plumbing shared by every function: the resolver, the one place errors map to answers, body
parsing that rejects hostile input with a 4xx, and the Lambda entry point (logs, metrics)."""

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import BaseProxyEvent
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ValidationError

from mediagen.core.errors import (
    BodyTooLarge,
    Conflict,
    DomainError,
    InvalidPayload,
    MalformedRequest,
    NotAuthenticated,
    NotFound,
    NotPermitted,
    TemporaryFault,
    TooManyJobsInFlight,
    WrongContentType,
)
from mediagen.core.faults import is_retryable
from mediagen.core.observability import logger, metrics

MAX_BODY_BYTES = 256 * 1024

# The OpenAPI security requirements of the routes (their schemes are described in
# deploy/openapi_operations.py): a Clerk session token, or the three Standard Webhooks headers together.
USER_SECURITY: list[dict[str, list[str]]] = [{"user": []}]
WEBHOOK_SECURITY: list[dict[str, list[str]]] = [{"webhookId": [], "webhookTimestamp": [], "webhook": []}]

# The one place where the domain's errors become HTTP answers (the contract's table of statuses).
HTTP_STATUS: dict[type[DomainError], int] = {
    MalformedRequest: 400,
    NotAuthenticated: 401,
    NotPermitted: 403,
    NotFound: 404,
    Conflict: 409,
    BodyTooLarge: 413,
    WrongContentType: 415,
    InvalidPayload: 422,
    TooManyJobsInFlight: 429,
    TemporaryFault: 503,
}


def http_status(error: DomainError) -> int:
    """The status of `error`: its own class's, or its nearest ancestor's."""
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 400


def json_response(
    model: BaseModel | dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
    *,
    exclude_none: bool = True,
    exclude_unset: bool = False,
) -> Response:
    """A JSON answer; absent optional fields are left out unless `exclude_none` is False, or, with
    `exclude_unset`, exactly the fields the view was given are answered (nulls included)."""
    if isinstance(model, BaseModel):
        body = model.model_dump_json(
            exclude_none=exclude_none and not exclude_unset, exclude_unset=exclude_unset
        )
    else:
        body = json.dumps(model)
    return Response(status_code=status, content_type="application/json", body=body, headers=headers)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, /, **extra: Any
) -> Response:
    if status == 401 and code != "invalid_signature":
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return json_response({"code": code, "message": message, **extra}, status, headers)


def domain_error_response(exc: DomainError) -> Response:
    status = http_status(exc)
    if status >= 500:
        logger.warning("Retryable fault answered 503", extra={"code": exc.code})
    headers = None
    if isinstance(exc, TooManyJobsInFlight):
        headers = {"Retry-After": str(exc.retry_after_seconds)}
    return error_response(status, exc.code, exc.message, headers, **exc.extra)


def make_resolver() -> APIGatewayHttpResolver:
    """The HTTP API resolver of one function, with every error mapped to the contract's answers."""
    app = APIGatewayHttpResolver()

    app.exception_handler(DomainError)(domain_error_response)

    @app.exception_handler(ValidationError)
    def _validation_error(exc: ValidationError) -> Response:
        return error_response(
            422, "validation_error", "The request is invalid.", errors=validation_details(exc)
        )

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if is_retryable(exc):
            logger.warning("AWS fault answered 503", extra={"error": type(exc).__name__})
            return error_response(503, "service_unavailable", "A temporary fault occurred; retry later.")
        logger.exception("Unhandled error")
        return error_response(500, "internal_error", "An internal error occurred.")

    @app.not_found
    def _not_found(exc: Exception) -> Response:
        return error_response(404, "not_found", "No such route.")

    return app


def lambda_entry(router: APIGatewayHttpRouter) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler of a function: its router's routes (Powertools' `Router`, decorated functions)
    on a resolver, structured logs, metrics flushed once per invocation (with the cold-start metric).
    Lambda runs one invocation at a time per process (so does the local service: a sandbox process per
    invocation), and the resolver keeps the event being resolved in class-level state: one resolver per
    process is right, and two invocations in one interpreter at once are not."""
    app = make_resolver()
    app.include_router(router)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return app.resolve(event, context)

    return handler


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Field, message and type of each problem; never the offending input itself (it may be huge)."""
    return [
        {
            "field": ".".join(str(p)[:100] for p in err["loc"])[:300],
            "message": err["msg"][:300],
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_input=False)[:20]
    ]


def headers_of(event: BaseProxyEvent) -> dict[str, str]:
    return {k.lower(): v for k, v in (event.headers or {}).items()}


def raw_body(event: BaseProxyEvent, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body exactly as sent (signatures are over these bytes), after the size check."""
    body = event.get("body") or ""
    if len(body) > limit * 4 // 3 + 4:
        raise BodyTooLarge(f"The body exceeds {limit} bytes.")
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedRequest("The body is not valid base64.", code="malformed_body") from exc
    else:
        data = body.encode("utf-8", "surrogatepass")
    if len(data) > limit:
        raise BodyTooLarge(f"The body exceeds {limit} bytes.")
    return data


def require_json_content(headers: dict[str, str]) -> None:
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise WrongContentType("The body must be application/json.")


def parse_json_body[M: BaseModel](data: bytes, model: type[M]) -> M:
    """Strict JSON (UTF-8, no duplicate keys, no NaN) validated into `model`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequest("The body is not valid UTF-8.", code="malformed_json") from exc
    try:
        document = json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise MalformedRequest("The JSON is nested too deeply.", code="malformed_json") from exc
    except ValueError as exc:
        raise MalformedRequest(
            f"The body is not valid JSON: {str(exc)[:200]}", code="malformed_json"
        ) from exc
    if not isinstance(document, dict):
        raise InvalidPayload("The body must be a JSON object.")
    return model.model_validate(document)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key[:50]!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
