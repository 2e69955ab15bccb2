"""Clerk session tokens: `Authorization: Bearer <token>` -> the caller (user, active organization).

One helper for every user route. RS256 only, verified against the issuer's JWKS (cached per process);
`iss`, `exp`, `nbf` checked with a few seconds of leeway; `azp`, when present, must be allowed.
"""

import base64
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlparse

from mediagen.contract.caller import Caller
from mediagen.core.errors import NotAuthenticated, TemporaryFault
from mediagen.core.observability import MetricName, bind, count, logger
from mediagen.core.settings import settings

LEEWAY_SECONDS = 5
JWKS_LIFESPAN_SECONDS = 300
JWKS_MIN_REFRESH_SECONDS = 30
MAX_TOKEN_LENGTH = 8192


def authenticate(headers: Mapping[str, str]) -> Caller:
    """Verify the bearer token in `headers` (lower-case names, as API Gateway gives them)."""
    header = headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        _reject("A bearer token is required.", "missing_token")
    return caller_of(verified_claims(token))


def caller_of(claims: Mapping[str, Any]) -> Caller:
    """The caller named by verified claims, after the rules that are ours rather than the token's
    signature: `azp` among the allowed parties, no pending session, a user id. Shared with the live
    progress subscribe handler, which gets claims AppSync has already verified (OPENID_CONNECT)."""
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        _reject("The token names no user.", "invalid_token")
    allowed = settings().auth_authorized_parties
    azp = claims.get("azp")
    if azp is not None and allowed and azp not in allowed:
        _reject("The token was issued for another party.", "invalid_token")
    if claims.get("sts") == "pending":
        _reject("The session is pending.", "invalid_token")
    return Caller(user_id=claims["sub"], organization_id=_organization(claims))


def verified_claims(token: str) -> dict[str, Any]:
    """The claims of a token whose signature (RS256, the issuer's JWKS), issuer, `exp` and `nbf` hold:
    what an OpenID Connect verifier checks (AppSync's, and the local service's stand-in of it)."""
    import jwt

    if len(token) > MAX_TOKEN_LENGTH:
        _reject("The token is malformed.", "invalid_token")

    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "RS256":
            _reject("The token must be signed with RS256.", "invalid_token")
        key = _signing_key(header.get("kid"))
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=["RS256"],
            issuer=settings().require("auth_issuer"),
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "sub"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        _reject("The token has expired.", "token_expired")
    except jwt.ImmatureSignatureError:
        _reject("The token is not valid yet.", "invalid_token")
    except jwt.InvalidIssuerError:
        _reject("The token was issued by an unknown issuer.", "invalid_token")
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        _reject("The token is invalid.", "invalid_token")
    return claims


def _organization(claims: Mapping[str, Any]) -> str | None:
    org = claims.get("o")
    org_id = org.get("id") if isinstance(org, Mapping) else claims.get("org_id")
    return org_id if isinstance(org_id, str) and org_id else None


def _reject(message: str, code: str) -> Any:
    count(MetricName.TOKEN_REJECTED)
    logger.info("Token rejected", extra={"reason": code})
    raise NotAuthenticated(message, code=code)


_key_sources: dict[str, Any] = {}  # JWKS URL -> PyJWKClient (https) or _FileKeySet (file://)
_key_sources_lock = threading.Lock()


def _signing_key(kid: str | None) -> Any:
    """The issuer's key for `kid`. For http(s), PyJWT's PyJWKClient caches the key set for
    JWKS_LIFESPAN_SECONDS and refreshes it for an unknown kid (a key rotated in at the issuer) at most
    once per JWKS_MIN_REFRESH_SECONDS however many such tokens arrive (its `cooldown_duration`), so
    forged kids cannot make us hammer the issuer. It refuses file:// URLs: those read the document from
    disk (`make run`, tests). An issuer that cannot be reached, or answers garbage, is a retryable
    fault (503), never the caller's bad token (401)."""
    import jwt

    url = settings().require("auth_jwks_url")
    with _key_sources_lock:
        source = _key_sources.get(url)
        if source is None:
            source = _key_sources[url] = (
                _FileKeySet(url)
                if url.startswith(("file://", "data:"))
                else jwt.PyJWKClient(
                    url,
                    lifespan=JWKS_LIFESPAN_SECONDS,
                    cooldown_duration=JWKS_MIN_REFRESH_SECONDS,
                    timeout=5,
                    headers={"accept": "application/json"},
                )
            )
    try:
        source.get_signing_keys()  # cached; a failure here is the issuer's, not the token's
    except (
        jwt.PyJWKClientConnectionError,
        jwt.PyJWKSetError,
        jwt.PyJWKClientError,
        ValueError,
        OSError,
    ) as exc:
        raise TemporaryFault("The token issuer's keys cannot be fetched now; retry.") from exc
    if kid is None:
        raise ValueError("the token names no key")
    try:
        return source.get_signing_key(kid).key
    except jwt.PyJWKClientConnectionError as exc:
        raise TemporaryFault("The token issuer's keys cannot be fetched now; retry.") from exc


class _FileKeySet:
    """A JWKS document on disk (`file://`), or the document itself (`data:application/json;base64,...`:
    what `sam local` containers get in events/env.json, where neither the host's files nor its network
    are reachable), read once per process (it is part of the deployment)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._keys: list[Any] | None = None

    def get_signing_keys(self) -> list[Any]:
        import jwt

        if self._keys is None:
            if self.url.startswith("data:"):
                document = _data_url_text(self.url)
            else:
                with open(unquote(urlparse(self.url).path), encoding="utf-8") as handle:
                    document = handle.read()
            self._keys = [key for key in jwt.PyJWKSet.from_json(document).keys if key.key_id]
        return self._keys

    def get_signing_key(self, kid: str) -> Any:
        import jwt

        for key in self.get_signing_keys():
            if key.key_id == kid:
                return key
        raise jwt.PyJWKClientError(f"no key {kid[:64]!r}")


def _data_url_text(url: str) -> str:
    """The document of a `data:` URL (a ValueError when it is not base64 or UTF-8)."""
    header, _, data = url.partition(",")
    if header.endswith(";base64"):
        return base64.b64decode(data, validate=True).decode("utf-8")
    return unquote(data)


def reset_key_cache() -> None:
    with _key_sources_lock:
        _key_sources.clear()


def authenticate_event(event: Any, job_id: str | None = None) -> Caller:
    """The caller of an API Gateway event; binds the job id (correlation id) and the user to the logs."""
    if job_id:
        bind(correlation_id=job_id[:64])
    caller = authenticate({k.lower(): v for k, v in (event.headers or {}).items()})
    # Kept on purpose: what lets an operator find one person's refusals and errors (their job ids do
    # not say whose a job was once it is gone). The logs forget it after LogRetentionDays (docs/runbook.md,
    # "What the logs carry about a person"); never a prompt or a file name (tests/conftest.py checks).
    bind(user_id=caller.user_id)
    return caller
