"""Settings read from the environment, validated once per process.

Each reader is cached: the environment of a Lambda sandbox does not change, and tests that change it
call `cache_clear()` through `reset_settings()`.
"""

import functools
import os

from mediagen.errors import ServiceUnavailable


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


@functools.cache
def media_bucket() -> str:
    bucket = os.environ.get("MEDIA_BUCKET", "").strip()
    if not bucket:
        raise ServiceUnavailable("The media bucket is not configured.", code="not_configured")
    return bucket


@functools.cache
def auth_issuer() -> str:
    issuer = os.environ.get("AUTH_ISSUER", "").strip()
    if not issuer:
        raise ServiceUnavailable("The token issuer is not configured.", code="not_configured")
    return issuer


@functools.cache
def auth_jwks_url() -> str:
    url = os.environ.get("AUTH_JWKS_URL", "").strip()
    if not url.startswith(("https://", "http://", "file://", "data:")):
        raise ServiceUnavailable("The issuer's JWKS URL is not configured.", code="not_configured")
    return url


@functools.cache
def authorized_parties() -> tuple[str, ...]:
    """Allowed `azp` values; empty means any."""
    return _csv(os.environ.get("AUTH_AUTHORIZED_PARTIES"))


def webhook_secrets_from_env() -> tuple[str, ...]:
    return _csv(os.environ.get("WEBHOOK_SECRETS"))


def webhook_secrets_id() -> str:
    return os.environ.get("WEBHOOK_SECRETS_ARN", "").strip()


def reset_settings() -> None:
    for reader in (media_bucket, auth_issuer, auth_jwks_url, authorized_parties):
        reader.cache_clear()
