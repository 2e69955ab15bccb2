"""Where the migrated items go: the local service (`make run` on PORT, found through its
`/_local/info`), or a deployed stack (`TARGET=aws STACK=name`: table names from the stack's outputs),
or named tables (`TARGET=aws GENERATIONS_TABLE=.. NOTIFICATIONS_TABLE=..`, with the usual
`AWS_ENDPOINT_URL_DYNAMODB` to reach another endpoint, such as DynamoDB Local).

Everything here is checked before the first write: an unreachable target or a missing table is a
TargetError, one line for the operator.
"""

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from mediagen.data.models import Generation, Notification

# The local service's embedded AWS accepts any key; a real profile must not be used against it.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
STACK_OUTPUTS = {"generations": "GenerationsTableName", "notifications": "NotificationsTableName"}


class TargetError(Exception):
    """The target cannot be used: one line for the operator."""


@dataclass(frozen=True)
class Target:
    description: str
    region: str
    endpoint: str | None  # None: AWS itself (or the AWS_ENDPOINT_URL_* of the environment)
    generations_table: str
    notifications_table: str
    media_bucket: str | None

    def as_report(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "region": self.region,
            "endpoint": self.endpoint,
            "generations_table": self.generations_table,
            "notifications_table": self.notifications_table,
            "media_bucket": self.media_bucket,
        }

    def s3(self) -> Any:
        return boto3.client(
            "s3",
            region_name=self.region,
            endpoint_url=self.endpoint,
            config=Config(max_pool_connections=64, retries={"mode": "standard"}),
        )


def local_target(port: int) -> Target:
    """The service `make run` serves on `port`: its embedded AWS endpoint and table names."""
    url = f"http://127.0.0.1:{port}/_local/info"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            info = json.loads(answer.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TargetError(
            f"no local service answers at {url} ({reason}): start it with `make run` (PORT={port}), "
            "or use TARGET=aws"
        ) from None
    tables = info.get("tables") or {}
    try:
        endpoint, region = str(info["aws_endpoint"]), str(info["region"])
        generations, notifications = str(tables["GENERATIONS_TABLE"]), str(tables["NOTIFICATIONS_TABLE"])
    except (KeyError, TypeError):
        raise TargetError(
            f"{url} does not name the embedded AWS endpoint and tables: update the service"
        ) from None
    os.environ.update(LOCAL_CREDENTIALS)
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(variable, None)
    return Target(
        description=f"local service on port {port}",
        region=region,
        endpoint=endpoint,
        generations_table=generations,
        notifications_table=notifications,
        media_bucket=info.get("media_bucket"),
    )


def aws_target(stack: str | None, generations: str | None, notifications: str | None) -> Target:
    """A deployed stack's tables (from its outputs), or tables named outright; credentials and region
    from the usual AWS chain."""
    if not stack and not (generations and notifications):
        raise TargetError(
            "TARGET=aws needs STACK=<stack name> (or GENERATIONS_TABLE and NOTIFICATIONS_TABLE)"
        )
    from deploy.aws_session import AwsSetupError, caller_identity, resolve_region, session

    try:  # the region as every command that talks to AWS finds it (deploy/aws_session.py)
        aws = session(resolve_region())
    except AwsSetupError as exc:
        raise TargetError(str(exc)) from None
    region = aws.region_name
    bucket = os.environ.get("MEDIA_BUCKET") or None
    if stack:
        try:
            described = aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
        except botocore.exceptions.NoCredentialsError:
            try:  # the same one-line fix as `make deploy-check`
                caller_identity(aws)
            except AwsSetupError as setup:
                raise TargetError(str(setup)) from None
            raise
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise TargetError(f"cannot read stack {stack!r} in {region}: {_aws_message(exc)}") from None
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        missing = [name for name in STACK_OUTPUTS.values() if name not in outputs]
        if missing:
            raise TargetError(
                f"stack {stack!r} has no output {', '.join(missing)}: deploy the current template.yaml"
            )
        generations, notifications = (
            outputs[STACK_OUTPUTS["generations"]],
            outputs[STACK_OUTPUTS["notifications"]],
        )
        parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in described.get("Parameters", [])}
        bucket = parameters.get("MediaBucketName") or bucket  # what the stack signs URLs for
        description = f"stack {stack} in {region}"
    else:
        description = f"tables {generations}, {notifications} in {region}"
    assert generations and notifications
    endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None
    return Target(description, region, endpoint, generations, notifications, bucket)


def bind_models(target: Target) -> None:
    """Point the service's models at the target's tables (the models read their table names from
    the environment at import, as in Lambda; this command decides them at run time instead)."""
    for model, table in ((Generation, target.generations_table), (Notification, target.notifications_table)):
        model.Meta.table_name = table
        model.Meta.region = target.region
        setattr(model.Meta, "host", target.endpoint)  # noqa: B010 - not declared by the models' Meta
        model._connection = None


def check_tables(target: Target) -> None:
    """Both tables exist and have the service's keys (one DescribeTable each; nothing written)."""
    for model in (Generation, Notification):
        name = model.Meta.table_name
        try:
            description = model._get_connection().connection.describe_table(name)
        except Exception as exc:  # PynamoDB wraps every botocore failure
            raise TargetError(
                f"cannot use table {name!r} at {target.description}: {_aws_message(exc)}"
            ) from None
        keys = {key["AttributeName"] for key in description.get("KeySchema", [])}
        expected = {
            attribute.attr_name
            for attribute in model.get_attributes().values()
            if attribute.is_hash_key or attribute.is_range_key
        }
        if keys != expected:
            raise TargetError(
                f"table {name!r} at {target.description} has keys {sorted(keys)}, not {sorted(expected)}: "
                "is it this service's table?"
            )


def dynamodb_client(model: type[Generation] | type[Notification]) -> Any:
    """The botocore client the model's connection uses (shared by threads; created here, once)."""
    return model._get_connection().connection.client


def _aws_message(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, botocore.exceptions.ClientError):
        error = cause.response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message')}"
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__
