"""The process environment of a function run outside Lambda against AWS stand-ins (moto, DynamoDB
Local): fake credentials and a region, the settings the template would give it, and nothing that could
reach a real account (no profile, no shared config, no endpoint left over). It must be applied before
anything imports mediagen: the PynamoDB models read their table names at import time, as in Lambda."""

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}
# Whatever would send a request elsewhere than where this process is told to.
REAL_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_SECRETSMANAGER",
    "WEBHOOK_SECRETS_ARN",
    "CLERK_WEBHOOK_SECRETS_ARN",
    "ERASURE_HASH_KEY_ARN",
)


def function_environment(
    *,
    generations_table: str,
    notifications_table: str,
    jobs_in_flight_table: str,
    metrics_namespace: str,
    erased_people_table: str | None = None,
    max_jobs_in_flight_per_user: int | None = None,
    log_level: str | None = None,
    no_aws_files_in: Path | None = None,
) -> dict[str, str]:
    """The variables of a function: fake credentials, region, table names, Powertools settings.
    `max_jobs_in_flight_per_user`: the per-user cap (the template's default when None).
    `no_aws_files_in`: point the SDK's config and credentials files at absent files there."""
    variables = {
        **FAKE_CREDENTIALS,
        "GENERATIONS_TABLE": generations_table,
        "NOTIFICATIONS_TABLE": notifications_table,
        "JOBS_IN_FLIGHT_TABLE": jobs_in_flight_table,
        # Named after the jobs table unless given (one more table, no caller left behind).
        "ERASED_PEOPLE_TABLE": erased_people_table
        or generations_table.replace("generations", "erased-people"),
        "POWERTOOLS_SERVICE_NAME": "mediagen",
        "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace,
    }
    if max_jobs_in_flight_per_user is not None:
        variables["MAX_JOBS_IN_FLIGHT_PER_USER"] = str(max_jobs_in_flight_per_user)
    if log_level:
        variables["POWERTOOLS_LOG_LEVEL"] = log_level
    if no_aws_files_in is not None:
        variables["AWS_CONFIG_FILE"] = str(no_aws_files_in / "no-aws-config")
        variables["AWS_SHARED_CREDENTIALS_FILE"] = str(no_aws_files_in / "no-aws-credentials")
    return variables


def apply(variables: Mapping[str, str], environ: MutableMapping[str, str] = os.environ) -> None:
    """Set `variables` in `environ` (this process's by default), after removing every variable that
    could reach a real AWS account or endpoint."""
    for name in REAL_AWS_VARIABLES:
        environ.pop(name, None)
    environ.update(variables)
