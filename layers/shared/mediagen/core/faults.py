"""Which faults of an AWS call a retry can cure (answered 503, or retried with a backoff).

Kept apart from mediagen.edge.api so that functions without HTTP (the dispatcher) do not import the
event handler.
"""

# DynamoDB, S3, SQS and Secrets Manager faults that a retry can cure: the sender gets a 503 and retries.
RETRYABLE_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "SlowDown",
        "TransactionConflictException",
        "LimitExceededException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def is_retryable(exc: BaseException) -> bool:
    """A throttling or timeout fault of an AWS call, possibly wrapped (PynamoDB wraps botocore errors)."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ClientError):
            code = current.response.get("Error", {}).get("Code", "")
            status = current.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in RETRYABLE_ERROR_CODES or status >= 500:
                return True
        # Connection failures and read/connect timeouts; not our own errors (bad parameters, no
        # credentials), which a retry cannot cure.
        if isinstance(current, ConnectionError | HTTPClientError):
            return True
        current = current.__cause__ or getattr(current, "cause", None)
    return False
