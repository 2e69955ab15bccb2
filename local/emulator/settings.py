"""The local service's settings: the contract's variables ("Running it on one machine": PORT, AUTH_*,
WEBHOOK_SECRETS, CLERK_WEBHOOK_SECRETS, LOCAL_GENERATOR, GENERATOR_URL, DYNAMODB, ...), read once from
the environment when `make run` starts it; a bad value stops it with one line naming the variable."""

from dataclasses import dataclass

from deploy.base import devkeys
from local.emulator.sandbox import DEFAULT_SANDBOXES
from local.emulator.stack import aws_port
from mediagen.core.settings import MAX_RETENTION_DAYS

MEDIA_BUCKET = "mediagen-local-media"  # the template's MediaBucketName, locally
SWITCH = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}


@dataclass(frozen=True)
class Settings:
    """The contract's variables ("Running it on one machine"), read once."""

    port: int
    issuer: str
    jwks_url: str
    authorized_parties: str
    webhook_secrets: str
    clerk_webhook_secrets: str
    generator_on: bool
    generator_url: str | None  # another generation backend than the stand-in
    dev_key: bool  # the issuer is the development key of .local/
    dev_secret: bool
    dev_clerk_secret: bool
    dynamodb_local: bool = False  # DYNAMODB=local: AWS's DynamoDB Local instead of moto's DynamoDB
    # DYNAMODB=auto (make run's default): DynamoDB Local where it can run here, else moto with one line
    dynamodb_fallback: bool = False
    dynamodb_persist: bool = False  # DYNAMODB_PERSIST=1: its data kept in .local/ between runs
    sandboxes: int = DEFAULT_SANDBOXES  # LOCAL_SANDBOXES: sandbox processes per function
    idle_seconds: int = 30  # LOCAL_IDLE_SECONDS: an idle connection is closed after this long
    aws_port: int = 0  # LOCAL_AWS_PORT: the embedded AWS's port (0: a free one)
    timeout_scale: int = 1  # LOCAL_TIMEOUT_SCALE: the template's function timeouts times this
    events_port: int | None = None  # EVENTS_PORT: the live progress endpoint (default: PORT + 2, or free)
    events_keepalive: int = 60  # LOCAL_EVENTS_KEEPALIVE_SECONDS: between two `ka` on its sockets
    events_init: int = 10  # LOCAL_EVENTS_INIT_SECONDS: a socket silent this long after it opened is closed
    # RETENTION_DAYS: the template's RetentionDays ("": keep forever); fractions allowed locally, so that
    # expiry can be watched (0.001 is 86.4 s)
    retention_days: str = ""

    @classmethod
    def from_environment(cls, env: dict[str, str]) -> "Settings":
        try:
            port = int(env.get("PORT") or 3000)
        except ValueError:
            raise SystemExit(f"PORT must be a number, not {env['PORT']!r}") from None
        switch = (env.get("LOCAL_GENERATOR") or "on").strip().lower()
        if switch not in SWITCH:
            raise SystemExit(f"LOCAL_GENERATOR must be on or off, not {switch!r}")
        issuer, jwks_url = env.get("AUTH_ISSUER", "").strip(), env.get("AUTH_JWKS_URL", "").strip()
        if bool(issuer) != bool(jwks_url):
            raise SystemExit(
                "Set both AUTH_ISSUER and AUTH_JWKS_URL, or neither (a development key is made)."
            )
        webhook_secrets = env.get("WEBHOOK_SECRETS", "").strip()
        clerk_webhook_secrets = env.get("CLERK_WEBHOOK_SECRETS", "").strip()
        dynamodb = (env.get("DYNAMODB") or "moto").strip().lower()
        if dynamodb not in ("moto", "local", "auto"):
            raise SystemExit(f"DYNAMODB must be auto, local or moto, not {dynamodb!r}")
        persist = (env.get("DYNAMODB_PERSIST") or "0").strip().lower()
        if persist not in SWITCH or (SWITCH[persist] and dynamodb == "moto"):
            raise SystemExit("DYNAMODB_PERSIST=1 keeps DynamoDB Local's data: use it with DYNAMODB=local")
        sandboxes = _positive(env, "LOCAL_SANDBOXES", DEFAULT_SANDBOXES)
        idle_seconds = _positive(env, "LOCAL_IDLE_SECONDS", 30)
        timeout_scale = _positive(env, "LOCAL_TIMEOUT_SCALE", 1)
        events_port = (env.get("EVENTS_PORT") or "").strip()
        if events_port and not (events_port.isdigit() and int(events_port) < 65536):
            raise SystemExit(f"EVENTS_PORT must be a port number, not {events_port!r}")
        events_keepalive = _positive(env, "LOCAL_EVENTS_KEEPALIVE_SECONDS", 60)
        retention_days = _retention_days(env.get("RETENTION_DAYS", ""))
        events_init = _positive(env, "LOCAL_EVENTS_INIT_SECONDS", 10)
        return cls(
            port=port,
            issuer=issuer or devkeys.DEV_ISSUER,
            jwks_url=jwks_url or devkeys.dev_jwks_url(),
            authorized_parties=env.get("AUTH_AUTHORIZED_PARTIES", "").strip(),
            webhook_secrets=webhook_secrets or devkeys.dev_webhook_secret(),
            clerk_webhook_secrets=clerk_webhook_secrets or devkeys.dev_clerk_webhook_secret(),
            generator_on=SWITCH[switch],
            generator_url=env.get("GENERATOR_URL", "").strip() or None,
            dev_key=not issuer,
            dev_secret=not webhook_secrets,
            dev_clerk_secret=not clerk_webhook_secrets,
            dynamodb_local=dynamodb in ("local", "auto"),
            dynamodb_fallback=dynamodb == "auto",
            dynamodb_persist=SWITCH[persist],
            sandboxes=sandboxes,
            idle_seconds=idle_seconds,
            aws_port=aws_port(env),
            timeout_scale=timeout_scale,
            events_port=int(events_port) if events_port else None,
            events_keepalive=events_keepalive,
            events_init=events_init,
            retention_days=retention_days,
        )


def _retention_days(text: str) -> str:
    """RETENTION_DAYS as the template's RetentionDays takes it: empty or 0 (keep forever), else a
    number of days within the layer's bounds, fractions allowed (a deployment's bucket lifecycle needs
    whole days; a local run has no lifecycle)."""
    text = text.strip()
    if not text:
        return ""
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not 0 <= days <= MAX_RETENTION_DAYS:  # NaN and infinities fail it too
        raise SystemExit(
            f"RETENTION_DAYS must be a number of days from 0 to {MAX_RETENTION_DAYS}, not {text!r}"
        )
    return "" if days == 0 else text


def _positive(env: dict[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise SystemExit(f"{name} must be a positive whole number, not {text!r}")
    return int(text)
