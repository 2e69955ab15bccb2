"""The live progress endpoint (local/emulator/events/) as the local service binds it: its port, its
limits, and what AppSync does with the layer's rules (the OPENID_CONNECT token check, erased people)."""

from collections.abc import Callable, Collection, Mapping
from typing import Any

from deploy.base import devkeys
from deploy.base.intrinsics import REGION
from local.emulator.events.endpoint import LocalEvents
from local.emulator.events.protocol import Authorize, Refused
from local.emulator.settings import Settings
from local.emulator.stack import FAKE_CREDENTIALS


def bind_events(
    settings: Settings,
    api_port: int,
    namespaces: Collection[str],
    authorize: Authorize,
    allowed_origins: Callable[[], Collection[str]],
) -> LocalEvents:
    """The live progress endpoint, bound: EVENTS_PORT, else PORT + 2 when it is free, else any free
    port (printed at start and in /_local/info)."""
    from local.emulator.events.limits import EventsLimits

    wanted = settings.events_port
    if wanted is None:
        wanted = api_port + 2 if settings.port and api_port + 2 < 65536 else 0
    arguments: dict[str, Any] = {
        "namespaces": set(namespaces),
        "verify_token": _verify_token,
        "authorize": authorize,
        "is_erased": _is_erased,
        "allowed_origins": allowed_origins,
        "credentials": (FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"], FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]),
        "region": REGION,
        "directory": devkeys.local_dir(),
        "limits": EventsLimits(
            idle_seconds=settings.idle_seconds,
            init_seconds=settings.events_init,
            keepalive_seconds=settings.events_keepalive,
        ),
    }
    try:
        return LocalEvents(wanted, **arguments)
    except OSError as exc:
        if settings.events_port is not None:
            raise SystemExit(
                f"Cannot listen on 127.0.0.1:{wanted} for live events: {exc.strerror} (set EVENTS_PORT)"
            ) from None
        return LocalEvents(0, **arguments)


def _verify_token(token: str) -> Mapping[str, Any]:
    """AppSync's OPENID_CONNECT check of a token (signature, issuer, expiry), with the layer's verifier
    and this service's issuer settings."""
    from mediagen.core.errors import NotAuthenticated, TemporaryFault
    from mediagen.edge.auth import verified_claims

    try:
        return verified_claims(token)
    except NotAuthenticated as refused:
        raise Refused("UnauthorizedException", refused.message) from None
    except TemporaryFault as fault:
        raise Refused("UnauthorizedException", fault.message) from None


def _is_erased(user_id: str) -> bool:
    """Whether ErasedPeople holds this person (the layer's rule, its one consistent read): the events
    endpoint closes an erased person's connections. Called once the stack's environment is set."""
    from mediagen.rules.erasure import is_erased

    return is_erased(user_id)
