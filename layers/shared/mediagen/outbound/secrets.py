"""The stack's secrets in Secrets Manager, read by every function through this one reader with one
caching rule: a value is kept MAX_AGE_SECONDS after it was read, then read again on its next use.

So a rotated secret (the webhook signing secrets, Clerk's, the backend's API key, the library's cursor
key) reaches every warm sandbox within 5 minutes, for one GetSecretValue per secret, sandbox and 5
minutes (docs/deploy.md, the costs). The erasure's key never changes: the same rule costs it nothing.
Local runs and tests mostly set the values directly (WEBHOOK_SECRETS, ...); `make run` serves the
stack's secrets from its embedded moto (AWS_ENDPOINT_URL_SECRETSMANAGER), which this client follows.
"""

import functools
from time import monotonic
from typing import Any

from mediagen.core.errors import TemporaryFault

MAX_AGE_SECONDS = 300

# secret id -> (when it was read, on the monotonic clock; its value as stored)
_values: dict[str, tuple[float, str]] = {}


@functools.cache
def _client() -> Any:
    import boto3

    return boto3.client("secretsmanager")


def secret_value(secret_id: str) -> str:
    """The secret's current string, as stored, read at most MAX_AGE_SECONDS ago. TemporaryFault when
    Secrets Manager cannot answer now: the request or message that needs it is retried."""
    from botocore.exceptions import BotoCoreError, ClientError

    now = monotonic()
    kept = _values.get(secret_id)
    if kept is not None and now - kept[0] < MAX_AGE_SECONDS:
        return kept[1]
    try:
        value = str(_client().get_secret_value(SecretId=secret_id)["SecretString"])
    except (BotoCoreError, ClientError, KeyError) as exc:  # KeyError: a binary secret, not ours
        raise TemporaryFault("A secret of the stack cannot be read now; retry.") from exc
    _values[secret_id] = (now, value)
    return value


def forget() -> None:
    """What a new sandbox has not read yet (tests): no value kept, a new client."""
    _values.clear()
    _client.cache_clear()
