"""Clerk session tokens: `Authorization: Bearer <token>` -> the caller (user, active organization).

One helper for every user route. RS256 only, verified against the issuer's JWKS (cached per process);
`iss`, `exp`, `nbf` checked with a few seconds of leeway; `azp`, when present, must be allowed.
"""

import base64
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from mediagen import config
from mediagen.errors import ServiceUnavailable, Unauthorized
from mediagen.observability import MetricName, bind, count, logger

LEEWAY_SECONDS = 5
JWKS_LIFESPAN_SECONDS = 300
JWKS_MIN_REFRESH_SECONDS = 30
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


@dataclass
class _KeySet:
    keys: dict[str, Any]  # kid -> public key
    fetched_at: float


_key_sets: dict[str, _KeySet] = {}
_key_sets_lock = threading.Lock()


def _signing_key(kid: str | None) -> Any:
    """The issuer's key for `kid`. Keys are cached for JWKS_LIFESPAN_SECONDS; an unknown kid (a key
    rotated in at the issuer) triggers one refresh, at most once per JWKS_MIN_REFRESH_SECONDS however
    many such tokens arrive, so forged kids cannot make us hammer the issuer."""
    url = config.auth_jwks_url()
    now = time.monotonic()
    with _key_sets_lock:
        key_set = _key_sets.get(url)
        if key_set is None or now - key_set.fetched_at >= JWKS_LIFESPAN_SECONDS:
            key_set = _key_sets[url] = _fetch_key_set(url, now)
        key = _pick(key_set, kid)
        if key is None and now - key_set.fetched_at >= JWKS_MIN_REFRESH_SECONDS:
            key_set = _key_sets[url] = _fetch_key_set(url, now)
            key = _pick(key_set, kid)
    if key is None:
        raise ValueError("unknown signing key")
    return key


def _pick(key_set: _KeySet, kid: str | None) -> Any:
    if kid is None and len(key_set.keys) == 1:
        return next(iter(key_set.keys.values()))
    return key_set.keys.get(kid or "")


def _fetch_key_set(url: str, now: float) -> _KeySet:
    import jwt

    if url.startswith("file://"):
        with open(unquote(urlparse(url).path), encoding="utf-8") as handle:
            document = handle.read()
    elif url.startswith("data:"):
        # The JWKS itself (`data:application/json;base64,...`): what `sam local` containers get in
        # events/env.json, where neither the host's files nor its network are reachable.
        document = _data_url_text(url)
    else:
        request = urllib.request.Request(url, headers={"accept": "application/json"})  # noqa: S310 - http(s) checked
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                document = response.read(1024 * 1024).decode()
        except (urllib.error.URLError, TimeoutError, OSError, UnicodeDecodeError) as exc:
            raise ServiceUnavailable("The token issuer's keys cannot be fetched now; retry.") from exc
    try:
        jwk_set = jwt.PyJWKSet.from_json(document)
    except (jwt.PyJWTError, ValueError) as exc:
        raise ServiceUnavailable("The token issuer's keys are unreadable.") from exc
    keys = {jwk.key_id or "": jwk.key for jwk in jwk_set.keys if jwk.key_type == "RSA"}
    return _KeySet(keys=keys, fetched_at=now)


def _data_url_text(url: str) -> str:
    header, _, data = url.partition(",")
    try:
        if header.endswith(";base64"):
            return base64.b64decode(data, validate=True).decode("utf-8")
        return unquote(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ServiceUnavailable("The token issuer's keys are unreadable.") from exc


def reset_key_cache() -> None:
    with _key_sets_lock:
        _key_sets.clear()


def authenticate_event(event: Any, job_id: str | None = None) -> Caller:
    """The caller of an API Gateway event; binds the job id (correlation id) and the user to the logs."""
    if job_id:
        bind(correlation_id=job_id[:64])
    caller = authenticate({k.lower(): v for k, v in (event.headers or {}).items()})
    bind(user_id=caller.user_id)
    return caller
