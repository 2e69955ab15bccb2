"""Domain errors: what went wrong, in the domain's words, with a machine-readable code and a message
for the caller. Which HTTP answer each one becomes is decided in one place, `mediagen.edge.api`."""

from typing import Any


class DomainError(Exception):
    """An error the caller is told about: a machine-readable code and a human message (and fields)."""

    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra


class MalformedRequest(DomainError):
    """The request cannot be read (bad JSON, bad encoding, bad cursor)."""

    code = "bad_request"


class NotAuthenticated(DomainError):
    """No token, a bad token, or a webhook no active secret signed."""

    code = "unauthorized"


class NotPermitted(DomainError):
    """The caller sees the job but may not do this to it."""

    code = "forbidden"


class NotFound(DomainError):
    """No such thing, or one the caller may not see (the same answer for both)."""

    code = "not_found"


class Conflict(DomainError):
    """The request contradicts the job's state or owner."""

    code = "conflict"


class BodyTooLarge(DomainError):
    code = "payload_too_large"


class WrongContentType(DomainError):
    code = "unsupported_media_type"


class InvalidPayload(DomainError):
    """The request reads, but breaks a rule of the contract's payloads."""

    code = "validation_error"


class TooManyJobsInFlight(DomainError):
    """The user already has as many jobs queued or processing as the deployment allows."""

    code = "too_many_jobs_in_flight"

    def __init__(self, message: str, *, retry_after_seconds: int, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.retry_after_seconds = retry_after_seconds


class TemporaryFault(DomainError):
    """A fault on our side that a retry can cure: the sender should retry."""

    code = "service_unavailable"


class NotConfigured(TemporaryFault):
    """A setting this operation needs is missing (normally caught at cold start)."""

    code = "not_configured"
