"""The one settings model: every environment variable the layer reads, parsed and checked once.

Each function builds it at cold start (`load_settings(*required)` at import of its `app.py`): a missing
or malformed variable fails the cold start with one line naming it, instead of a 5xx on some later
request. No other module of the layer reads `os.environ` (a test checks it). The environment of a
Lambda sandbox does not change, so the model is built once; a test that changes a variable gets it
rebuilt on the next use.
"""

import functools
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from mediagen.core.errors import NotConfigured
from mediagen.core.shared_rules import DEFAULT_MEDIA_KEY_PATTERN, job_folder


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _blank_is_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


CommaList = Annotated[tuple[str, ...], BeforeValidator(_csv)]
Text = Annotated[str | None, BeforeValidator(_blank_is_none)]
HttpUrl = Annotated[
    str | None, BeforeValidator(_blank_is_none), Field(pattern=r"^https?://[^\s]+$", max_length=2048)
]
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

# A front-end origin as a browser writes it (the `azp` of a Clerk token, a CORS request's Origin): scheme,
# lower-case host, optional port; no path, no trailing slash. An entry written otherwise matches no token:
# one such list locks every user out (issue 31), so it is refused before it is used, by the same rule in
# the template's AllowedPattern (the deploy prompt checks answers against it) and at cold start here.
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
ORIGIN = rf"https?://(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]+\])(?::[0-9]{{1,5}})?"
# The template's parameter: one or more origins, comma-separated, no spaces (CloudFormation splits it
# as is for the API's CORS origins).
AUTHORIZED_PARTIES_PATTERN = rf"^{ORIGIN}(?:,{ORIGIN})*$"
ORIGIN_RULE = "an origin is scheme://host[:port], lower case, with no path and no trailing slash"


MAX_RETENTION_DAYS = 36_500


class SettingsError(RuntimeError):
    """The environment is missing a variable or has a malformed one: the function cannot start."""


class Settings(BaseModel):
    """Field names are the variables' names in lower case (see README, Configuration)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    aws_region: Text = None
    aws_default_region: Text = None
    generations_table: str = Field(default="mediagen-generations", min_length=3, max_length=255)
    notifications_table: str = Field(default="mediagen-notifications", min_length=3, max_length=255)
    jobs_in_flight_table: str = Field(default="mediagen-jobs-in-flight", min_length=3, max_length=255)
    erased_people_table: str = Field(default="mediagen-erased-people", min_length=3, max_length=255)
    media_bucket: Text = None
    media_key_pattern: str = DEFAULT_MEDIA_KEY_PATTERN
    auth_issuer: Text = None
    auth_jwks_url: Annotated[
        str | None,
        BeforeValidator(_blank_is_none),
        # data: the JWKS itself, for `sam local` containers (events/env.json, docs/deploy.md).
        Field(pattern=r"^((https?|file)://[^\s]+|data:application/json(;base64)?,[^\s]+)$"),
    ] = None
    auth_authorized_parties: CommaList = ()
    webhook_secrets: CommaList = ()
    webhook_secrets_arn: Text = None
    # Clerk's account events (Svix): its endpoint's signing secrets, and the key of the erased-person hash.
    clerk_webhook_secrets: CommaList = ()
    clerk_webhook_secrets_arn: Text = None
    erasure_hash_key: Text = None
    erasure_hash_key_arn: Text = None
    erasure_queue_url: HttpUrl = None
    # The erasure's last pass runs this long after the first, once the per-author index caught up.
    erasure_final_pass_delay_seconds: int = Field(default=20, ge=0, le=900)
    dispatch_queue_url: HttpUrl = None
    generator_url: HttpUrl = None
    generator_api_key: Text = None
    generator_api_key_arn: Text = None
    public_api_url: HttpUrl = None
    dispatch_max_attempts: int = Field(default=3, ge=1, le=20)
    dispatch_backoff_seconds: int = Field(default=10, ge=0, le=3600)
    stuck_job_timeout_minutes: int = Field(default=15, ge=1, le=7 * 24 * 60)
    max_jobs_in_flight_per_user: int = Field(default=10, ge=1, le=10_000)
    # A person's library: finished jobs are kept this many days (0: forever); the key that binds list
    # cursors to their caller and filters (LIBRARY_CURSOR_KEY locally, else the generated secret's ARN);
    # the queue of the files of deleted jobs.
    # Whole days in a deployment (the bucket's lifecycle takes whole days); fractions locally
    # (RETENTION_DAYS=0.001 is 86.4 s), so that expiry can be watched.
    retention_days: float = Field(default=0, ge=0, le=MAX_RETENTION_DAYS, allow_inf_nan=False)
    library_cursor_key: Text = None
    library_cursor_key_arn: Text = None
    file_removal_queue_url: HttpUrl = None
    # Live progress: the AppSync Events API's HTTP publish endpoint (https://<http domain>/event), and
    # a CA bundle to trust for it (the local service's own certificate; unset in AWS).
    events_http_endpoint: Annotated[
        str | None, BeforeValidator(_blank_is_none), Field(pattern=r"^https://[^\s]+/event$", max_length=2048)
    ] = None
    events_ca_bundle: Text = None
    events_publish_attempts: int = Field(default=3, ge=1, le=10)

    @field_validator("auth_authorized_parties")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        wrong = [item for item in value if not re.fullmatch(ORIGIN, item)]
        if wrong:
            raise ValueError(f"{', '.join(repr(item) for item in wrong)}: {ORIGIN_RULE}")
        return value

    @field_validator("media_key_pattern")
    @classmethod
    def _check_pattern(cls, value: str) -> str:
        """The prefix must determine the job: it ends with `{job_id}/`, so no job id (`images`
        included) can name a prefix inside another job's folder."""
        names = _PLACEHOLDER.findall(value)
        if (
            not value.endswith("{job_id}/")
            or names.count("job_id") != 1
            or set(names) - {"kind", "job_id"}
            or value.startswith("/")
            or ".." in value
        ):
            raise ValueError(
                "must be a relative prefix ending with '{job_id}/' (placeholders: {kind}, {job_id})"
            )
        return value

    @property
    def region(self) -> str:
        return self.aws_region or self.aws_default_region or "us-east-1"

    def require(self, name: str) -> str:
        """A setting this use cannot do without (checked at cold start by the functions that need it;
        here for code run outside a function, such as a test that leaves it out)."""
        value = getattr(self, name)
        if not value:
            raise NotConfigured(f"{name.upper()} is not configured.")
        return str(value)

    def media_key_prefix(self, kind: str, job_id: str) -> str:
        """The folder of a job's files in the media bucket."""
        return job_folder(kind, job_id, self.media_key_pattern)


def build_settings(environment: Mapping[str, str]) -> Settings:
    """The settings of `environment`, or SettingsError naming every problem on one line."""
    values = {name.lower(): value for name, value in environment.items()}
    try:
        built = Settings.model_validate({k: v for k, v in values.items() if k in Settings.model_fields})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        )
        raise SettingsError(f"Invalid configuration: {problems}") from None
    return built


def settings() -> Settings:
    """The settings of this process's environment: built once (a sandbox's environment does not
    change); a test that changes a variable gets them rebuilt on the next use."""
    return _settings_of(tuple(os.environ.get(name) for name in _VARIABLES))


_VARIABLES = tuple(name.upper() for name in Settings.model_fields)


@functools.lru_cache(maxsize=8)
def _settings_of(values: tuple[str | None, ...]) -> Settings:
    return build_settings(
        {name: value for name, value in zip(_VARIABLES, values, strict=True) if value is not None}
    )


def load_settings(*required: str) -> Settings:
    """At cold start: build the settings (cached) and check that this function's own are there
    (`"a|b"`: one of them)."""
    built = settings()
    missing = [
        " or ".join(name.upper() for name in names.split("|"))
        for names in required
        if not any(getattr(built, name) for name in names.split("|"))
    ]
    if missing:
        raise SettingsError(f"Invalid configuration: missing {', '.join(missing)}")
    return built


# What every user route needs (each function adds its own, see functions/*/app.py).
USER_ROUTE = ("auth_issuer", "auth_jwks_url")


def reset_settings() -> None:
    _settings_of.cache_clear()
