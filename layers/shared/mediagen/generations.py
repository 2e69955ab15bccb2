"""Data access for generations: one conditional request per operation, never a read before a write."""

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mediagen.models import Generation


@dataclass(frozen=True)
class ConditionalWrite:
    """What a conditional write did. `before` is the item before the write (None: it did not exist);
    when the condition failed, it is the item as it is now: DynamoDB returns it with the failure, so no
    read is needed. Only when no item comes back (the item is missing, or a store without
    ReturnValuesOnConditionCheckFailure, such as dynalite) is it read, once, consistently: job states
    only move forward, so that read cannot contradict the failed condition."""

    applied: bool
    before: Generation | None


def condition_failed(exc: Exception) -> bool:
    """A PynamoDB error caused by a failed condition (and not by throttling, a timeout, ...)."""
    cause = getattr(exc, "cause", None)
    return isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") == (
        "ConditionalCheckFailedException"
    )


def update_if(job_id: str, actions: list[Action], condition: Condition) -> ConditionalWrite:
    """UpdateItem with `condition`, one request: ALL_OLD on success and on condition failure."""
    connection = Generation._get_connection().connection
    request = connection.get_operation_kwargs(
        Generation.Meta.table_name,
        job_id,
        actions=actions,
        condition=condition,
        return_values="ALL_OLD",
        return_values_on_condition_failure="ALL_OLD",
    )
    client: Any = connection.client
    try:
        response: dict[str, Any] = client.update_item(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        current: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
        return ConditionalWrite(applied=False, before=_item(current) if current else find(job_id))
    return ConditionalWrite(applied=True, before=_item(response.get("Attributes")))


def update_and_notify(job_id: str, actions: list[Action], condition: Condition, notification: Any) -> bool:
    """The job's update and its notification in one transaction: both or neither. False when the
    job's condition failed (nothing written)."""
    from pynamodb.connection import Connection
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    from mediagen.models import REGION, Notification

    try:
        with TransactWrite(connection=Connection(region=REGION)) as transaction:
            transaction.update(Generation(job_id), actions=actions, condition=condition)
            transaction.save(notification, condition=Notification.notification_id.does_not_exist())
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons or []
        if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
            return False
        raise
    return True


def put_new(job: Generation) -> Generation | None:
    """PutItem if no item has this job id, one request. Returns None when created, else the existing
    item (returned by DynamoDB with the failed condition: no read)."""
    connection = Generation._get_connection().connection
    client: Any = connection.client
    try:
        client.put_item(
            TableName=Generation.Meta.table_name,
            Item=job.serialize(),
            ConditionExpression="attribute_not_exists(job_id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        existing: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
        current = _item(existing) if existing else find(job.job_id)
        if current is None:  # it vanished in between: let the client retry
            from mediagen.errors import ServiceUnavailable

            raise ServiceUnavailable("The job id is being created; retry.") from exc
        return current
    return None


def alias_item(alias_id: str, job: Generation) -> Generation:
    """An item keyed by another id of the job (the old backend's own, or a merged double entry's)
    that points at it: its webhooks, status and result land on the job."""
    return Generation(
        job_id=alias_id,
        kind=job.kind,
        alias_of=job.job_id,
        status="alias",
        source="alias",
        created_at=job.created_at,
        updated_at=job.updated_at,
    )


def record_alias(backend_job_id: str, job: Generation) -> None:
    """The alias of the old backend's own id, written once; a second write (a retried dispatch) finds
    it and changes nothing."""
    existing = put_new(alias_item(backend_job_id, job))
    if existing is not None and existing.alias_of != job.job_id:
        from mediagen.observability import logger

        logger.error("The backend's id is already a job of ours; its webhooks will not reach this job")


def find(job_id: str) -> Generation | None:
    """One strongly consistent GetItem: a poll right after a write sees it."""
    try:
        return Generation.get(job_id, consistent_read=True)
    except Generation.DoesNotExist:
        return None


def _item(raw: dict[str, Any] | None) -> Generation | None:
    return Generation.from_raw_data(raw) if raw else None
