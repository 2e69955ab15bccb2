"""Clerk session tokens: `Authorization: Bearer <token>` -> the caller (user, active organization).

One helper for every user route. RS256 only, verified against the issuer's JWKS (cached per process);
`iss`, `exp`, `nbf` checked with a few seconds of leeway; `azp`, when present, must be allowed.
"""

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from mediagen import config
from mediagen.errors import ServiceUnavailable, Unauthorized
from mediagen.observability import MetricName, bind, count, logger

if TYPE_CHECKING:
    import jwt

LEEWAY_SECONDS = 5
JWKS_LIFESPAN_SECONDS = 300
MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True)
class Caller:
    user_id: str
    organization_id: str | None


def authenticate(headers: Mapping[str, str]) -> Caller:
    """Verify the bearer token in `headers` (lower-case names, as API Gateway gives them)."""
    header = headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        _reject("A bearer token is required.", "missing_token")
    if len(token) > MAX_TOKEN_LENGTH:
        _reject("The token is malformed.", "invalid_token")
    claims = _verified_claims(token)
    return Caller(user_id=claims["sub"], organization_id=_organization(claims))


def _verified_claims(token: str) -> dict[str, Any]:
    import jwt

    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "RS256":
            _reject("The token must be signed with RS256.", "invalid_token")
        key = _signing_key(header.get("kid"))
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=["RS256"],
            issuer=config.auth_issuer(),
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "sub"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        _reject("The token has expired.", "token_expired")
    except jwt.ImmatureSignatureError:
        _reject("The token is not valid yet.", "invalid_token")
    except jwt.PyJWKClientConnectionError as exc:
        raise ServiceUnavailable("The token issuer's keys cannot be fetched now; retry.") from exc
    except OSError as exc:
        raise ServiceUnavailable("The token issuer's keys cannot be read now; retry.") from exc
    except jwt.InvalidIssuerError:
        _reject("The token was issued by an unknown issuer.", "invalid_token")
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        _reject("The token is invalid.", "invalid_token")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        _reject("The token names no user.", "invalid_token")
    allowed = config.authorized_parties()
    azp = claims.get("azp")
    if azp is not None and allowed and azp not in allowed:
        _reject("The token was issued for another party.", "invalid_token")
    if claims.get("sts") == "pending":
        _reject("The session is pending.", "invalid_token")
    return claims


def _organization(claims: Mapping[str, Any]) -> str | None:
    org = claims.get("o")
    org_id = org.get("id") if isinstance(org, Mapping) else claims.get("org_id")
    return org_id if isinstance(org_id, str) and org_id else None


def _reject(message: str, code: str) -> Any:
    count(MetricName.TOKEN_REJECTED)
    logger.info("Token rejected", extra={"reason": code})
    raise Unauthorized(message, code=code)


def _signing_key(kid: str | None) -> Any:
    url = config.auth_jwks_url()
    if url.startswith("file://"):
        jwk_set = _file_jwks(url, int(time.monotonic() // JWKS_LIFESPAN_SECONDS))
        keys = jwk_set.keys
        if kid is None and len(keys) == 1:
            return keys[0].key
        return jwk_set[kid or ""].key  # KeyError: unknown kid -> invalid token
    client = _jwks_client(url)
    if kid is None:
        raise ValueError("token without kid")
    return client.get_signing_key(kid).key


@functools.lru_cache(maxsize=4)
def _jwks_client(url: str) -> "jwt.PyJWKClient":
    import jwt

    return jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=JWKS_LIFESPAN_SECONDS, timeout=5)


@functools.lru_cache(maxsize=4)
def _file_jwks(url: str, _period: int) -> "jwt.PyJWKSet":
    """A JWKS document on disk (local runs, tests), re-read once per lifespan period."""
    import jwt

    path = unquote(urlparse(url).path)
    with open(path, encoding="utf-8") as handle:
        return jwt.PyJWKSet.from_json(handle.read())


def authenticate_event(event: Any, job_id: str | None = None) -> Caller:
    """The caller of an API Gateway event; binds the job id (correlation id) and the user to the logs."""
    if job_id:
        bind(correlation_id=job_id[:64])
    caller = authenticate({k.lower(): v for k, v in (event.headers or {}).items()})
    bind(user_id=caller.user_id)
    return caller
