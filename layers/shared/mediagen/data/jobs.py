"""A job's item in the Generations table: its creation (a job id is used once), the internal failure and
the cancel of a job in flight, the alias items of its other ids, and the in-flight index the sweeper
reads. One conditional request per operation; the conditions are public so that tests/unit evaluates
each against every item state.
"""

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mediagen.contract.payloads import IN_FLIGHT_STATUSES, JobStatus, Kind
from mediagen.core.errors import TemporaryFault
from mediagen.data.job_store import (
    ConditionalWrite,
    client,
    condition_check_failed,
    connection,
    find,
    item_of,
    update_if,
)
from mediagen.data.models import Generation, Notification

SOURCE_BACKEND_DIRECT = "backend-direct"
SOURCE_ALIAS = "alias"
ALIAS_STATUS = "alias"  # an alias item is not a job: it has no JobStatus
DEFAULT_FAILURE = "The generation backend reported a failure."


# --- The rules, as DynamoDB evaluates them ------------------------------------------------------


def create_condition() -> Condition:
    """A job id is used once."""
    return Generation.job_id.does_not_exist()


def fail_condition(job: Generation) -> Condition:
    """An internal failure (dispatcher, sweeper) applies to an existing queued or processing job of the
    kind and author seen: it never creates a job, nor fails one that changed hands."""
    return (
        Generation.job_id.exists()
        & Generation.status.is_in(*IN_FLIGHT_STATUSES)
        & (Generation.kind == job.kind)
        & (
            (Generation.author_id == job.author_id)
            if job.author_id
            else Generation.author_id.does_not_exist()
        )
    )


def cancel_condition(kind: Kind, user_id: str) -> Condition:
    """The author cancels a queued or processing job of the route's kind."""
    return (
        (Generation.author_id == user_id)
        & (Generation.kind == kind)
        & Generation.status.is_in(*IN_FLIGHT_STATUSES)
    )


def not_erased_job_condition() -> Condition:
    """The condition of a ConditionCheck on a job id's erased record: there is none."""
    return Generation.job_id.does_not_exist()


def expiry_actions(expires_epoch: int | None) -> list[Action]:
    """DynamoDB's time to live of a job that reaches its final state (`expires_epoch`: the retention
    rule's, mediagen.rules.retention.time_to_live; None: kept forever). Reads do not wait for it: they
    check the expiry themselves."""
    return [] if expires_epoch is None else [Generation.expires_epoch.set(expires_epoch)]


# --- Operations ---------------------------------------------------------------------------------


def create_job(job: Generation) -> Generation | None:
    """PutItem if no item has this job id, one request. Returns None when created, else the existing
    item (returned by DynamoDB with the failed condition: no read)."""
    request = job.get_save_kwargs_from_instance(
        condition=create_condition(), return_values_on_condition_failure="ALL_OLD"
    )
    try:
        client().put_item(**request)
    except ClientError as exc:
        if not condition_check_failed(exc):
            raise
        existing: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
        current = item_of(existing) if existing else find(job.job_id)
        if current is None:  # it vanished in between: let the client retry
            raise TemporaryFault("The job id is being created; retry.") from exc
        return current
    return None


def cancel_if_in_flight(
    job_id: str, kind: Kind, user_id: str, now: datetime, *, expires_epoch: int | None
) -> ConditionalWrite:
    """Cancel the author's queued or processing job; canceled is final (`expires_epoch`: its TTL)."""
    return update_if(
        job_id,
        [
            Generation.status.set(JobStatus.CANCELED),
            Generation.updated_at.set(now),
            Generation.completed_at.set(now),
            Generation.in_flight.remove(),
            *expiry_actions(expires_epoch),
        ],
        cancel_condition(kind, user_id),
    )


def fail_if_in_flight(
    job: Generation,
    error: str,
    now: datetime,
    notification: Notification | None,
    *,
    expires_epoch: int | None,
) -> bool:
    """Fail a queued or processing job; with its author's notification in the same transaction (both
    or neither) when it has one (`expires_epoch`: its TTL). True when this call failed the job."""
    actions: list[Action] = [
        Generation.status.set(JobStatus.FAILED),
        Generation.error.set(error),
        Generation.updated_at.set(now),
        Generation.completed_at.set(now),
        Generation.progress.set(Generation.progress | 0),
        Generation.in_flight.remove(),
        *expiry_actions(expires_epoch),
    ]
    if notification is None:
        return update_if(job.job_id, actions, fail_condition(job)).applied
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    try:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(Generation(job.job_id), actions=actions, condition=fail_condition(job))
            transaction.save(notification, condition=Notification.notification_id.does_not_exist())
    except TransactWriteError as exc:
        # Puts come before updates in the request: the job's update is the last item.
        reasons = exc.cancellation_reasons or []
        if reasons and reasons[-1] is not None and reasons[-1].code == "ConditionalCheckFailed":
            return False
        raise
    return True


def alias_item(alias_id: str, job: Generation) -> Generation:
    """An item keyed by another id of the job (the old backend's own, or a merged double entry's)
    that points at it: its webhooks, status and result land on the job."""
    return Generation(
        job_id=alias_id,
        kind=job.kind,
        alias_of=job.job_id,
        status=ALIAS_STATUS,
        source=SOURCE_ALIAS,
        created_at=job.created_at,
        updated_at=job.updated_at,
    )


def record_alias(backend_job_id: str, job: Generation) -> bool:
    """The alias of the old backend's own id, written once; a second write (a retried dispatch) finds
    it and changes nothing. False when the id is already one of our jobs (its webhooks then cannot
    reach this job)."""
    existing = create_job(alias_item(backend_job_id, job))
    return existing is None or existing.alias_of == job.job_id


def in_flight_created_before(shard: int, cutoff: datetime, limit: int) -> Any:
    """The jobs of one shard of the sparse in-flight index created before `cutoff`, oldest first (one
    Query page at a time; the index carries kind, author and source)."""
    return Generation.in_flight_jobs.query(str(shard), Generation.created_at < cutoff, limit=limit)
