"""The one way every command that talks to AWS finds its region and checks its credentials: `make
deploy` and `make deploy-check`, the hand-over commands (api-url, webhook-secret, generator-api-key,
stack-outputs), `make smoke ENV=...`, `make migrate TARGET=aws` and any later one (erasure).

Region, first found: `AWS_REGION`, `AWS_DEFAULT_REGION`, the region saved with the environment's
answers in samconfig.toml (where its stack was deployed), the AWS profile's `region`. botocore reads
`AWS_DEFAULT_REGION` and the profile only, so a session is always given the region explicitly. When
the environment variable and the saved region disagree, nothing guesses: the command stops and says so
(a second stack in another region is never what was meant).

Each failure is one line that says how to fix it (`AwsSetupError`), found in seconds: STS is asked
once, with short timeouts and no retry.
"""

import os
from dataclasses import dataclass
from typing import Any

REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
# A first deploy must not wait on a dead network: one attempt, a few seconds.
CHECK_TIMEOUTS = {"connect_timeout": 3, "read_timeout": 5, "retries": {"max_attempts": 1}}


class AwsSetupError(Exception):
    """Credentials, region or profile missing or wrong: one line, with the fix."""


@dataclass(frozen=True)
class Region:
    name: str
    source: str  # where it came from, for the user: "AWS_REGION", "samconfig.toml [dev]", "profile default"


def _profile_region() -> tuple[str | None, str]:
    import botocore.session
    from botocore.exceptions import ProfileNotFound

    session = botocore.session.Session()
    profile = session.get_config_variable("profile") or "default"
    try:
        region = session.get_scoped_config().get("region")
    except ProfileNotFound:
        raise AwsSetupError(
            f"AWS_PROFILE={profile}: no such profile in ~/.aws/config: `aws configure --profile {profile}` "
            "(or `aws configure sso`), or unset AWS_PROFILE"
        ) from None
    return (str(region) if region else None), f"profile {profile}"


def resolve_region(saved: str | None = None, saved_source: str = "samconfig.toml") -> Region:
    """The region of the command (see the module's docstring); AwsSetupError when there is none or
    when an environment variable contradicts where the stack was saved."""
    for variable in REGION_VARIABLES:
        value = (os.environ.get(variable) or "").strip()
        if value:
            if saved and value != saved:
                raise AwsSetupError(
                    f"{variable}={value}, but this environment's stack was deployed to {saved} "
                    f"({saved_source}): unset {variable}, or remove `region` there to deploy anew"
                )
            return Region(value, variable)
    if saved:
        return Region(saved, saved_source)
    region, source = _profile_region()
    if region:
        return Region(region, source)
    raise AwsSetupError(
        "no AWS region: export AWS_REGION=eu-west-3 (or any region), or "
        "`aws configure set region eu-west-3` for your profile"
    )


def session(region: Region) -> Any:
    """A boto3 session in `region`, credentials from the usual chain (environment, profile, SSO, role)."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        return boto3.session.Session(region_name=region.name)
    except ProfileNotFound as exc:
        raise AwsSetupError(f"{exc}: `aws configure --profile <name>`, or unset AWS_PROFILE") from None


def caller_identity(boto_session: Any) -> str:
    """The ARN the credentials act as (STS GetCallerIdentity), or AwsSetupError with the fix."""
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    profile = boto_session.profile_name
    login = f"aws sso login --profile {profile}" if profile != "default" else "aws sso login"
    try:
        sts = boto_session.client("sts", config=Config(**CHECK_TIMEOUTS))  # type: ignore[arg-type]
        return str(sts.get_caller_identity()["Arn"])
    except NoCredentialsError:
        raise AwsSetupError(
            "no AWS credentials: `aws configure` (access keys) or `aws configure sso` then "
            "`aws sso login`, and export AWS_PROFILE=<profile> if it is not the default"
        ) from None
    except PartialCredentialsError as exc:
        raise AwsSetupError(f"incomplete AWS credentials ({exc}): set both keys, or use a profile") from None
    except ProfileNotFound as exc:
        raise AwsSetupError(f"{exc}: `aws configure --profile <name>`, or unset AWS_PROFILE") from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
            raise AwsSetupError(f"your AWS credentials have expired: `{login}` (or new keys)") from None
        if code in ("InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException"):
            raise AwsSetupError(
                f"AWS refused the credentials ({code}): check the access key, or `{login}`"
            ) from None
        raise AwsSetupError(f"STS GetCallerIdentity failed ({code}): {exc}") from None
    except EndpointConnectionError:
        raise AwsSetupError(
            f"cannot reach AWS STS in {boto_session.region_name}: check the network (or HTTPS_PROXY) "
            "and the region's name"
        ) from None
    except BotoCoreError as exc:
        # SSO: the token cache is missing or expired (botocore's SSO errors are BotoCoreErrors).
        if "sso" in type(exc).__name__.lower() or "sso" in str(exc).lower():
            raise AwsSetupError(f"your AWS SSO session has expired or never started: `{login}`") from None
        raise AwsSetupError(f"AWS credentials: {exc}") from None
