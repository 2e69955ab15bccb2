"""Errors that map to an HTTP answer. The mapping itself lives in mediagen.api, in one place."""

from typing import Any


class ApiError(Exception):
    """An error the caller is told about: status, machine-readable code, human message."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(ApiError):
    status, code = 422, "validation_error"


class ServiceUnavailable(ApiError):
    """A fault on our side that a retry can cure: the sender should retry."""

    status, code = 503, "service_unavailable"
