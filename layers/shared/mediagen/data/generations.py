"""Data access for the Generations table: every condition and update of a job is built here, and
nowhere else (a test checks it). One conditional request per operation, never a read before a write.

The conditions ARE the rules DynamoDB enforces (create on missing, attribution, forward-only status and
progress, the per-user cap, one dispatcher at a time); they are public so that tests/unit evaluates
each against every item state, and checks that the classification of a refused write agrees.
"""

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.connection import Connection
from pynamodb.expressions.condition import Condition, size
from pynamodb.expressions.update import Action

from mediagen.contract.payloads import (
    IN_FLIGHT_STATUSES,
    NOTIFIED_STATUSES,
    CompletionWebhook,
    JobStatus,
    Kind,
    MediaFile,
    Source,
)
from mediagen.core.errors import TemporaryFault
from mediagen.core.settings import settings
from mediagen.data.erased_people import not_erased_condition
from mediagen.data.models import (
    NO_ORGANIZATION,
    ErasedPerson,
    GeneratedFile,
    Generation,
    Notification,
    UserJobsInFlight,
    in_flight_shard,
    library_sort_key,
)

SOURCE_BACKEND_DIRECT = "backend-direct"
SOURCE_ALIAS = "alias"
# The contract's names of the stored sources (POST .../generate stores "api"): what the library and
# the notifications answer.
SOURCE_NAMES: dict[str, Source] = {"api": "front-end", SOURCE_BACKEND_DIRECT: "backend-direct"}
ALIAS_STATUS = "alias"  # an alias item is not a job: it has no JobStatus
# A deleted job's item stays as a tombstone: its id is spent (later webhooks answer `deleted`, a
# generate reusing it 409). Not a JobStatus either. Erasure writes its own tombstone status.
DELETED_STATUS = "deleted"
TOMBSTONE_KEEPS = frozenset({"job_id", "kind", "status", "source", "created_at", "updated_at", "deleted_at"})
# Delete: the job changed between its read and the transaction (a webhook): read again, a few times.
DELETE_ATTEMPTS = 4
DEFAULT_FAILURE = "The generation backend reported a failure."
# Concurrent transactions on one user's slot item are cancelled by DynamoDB (TransactionConflict):
# retried a few times, jittered, before the client is told to retry (503).
TRANSACTION_ATTEMPTS = 4


@dataclass(frozen=True)
class ConditionalWrite:
    """What a conditional write did. `before` is the item before the write (None: it did not exist);
    when the condition failed, it is the item as it is now: DynamoDB returns it with the failure, so no
    read is needed. Only when no item comes back (the item is missing, or a store without
    ReturnValuesOnConditionCheckFailure, such as dynalite) is it read, once, consistently: job states
    only move forward, so that read cannot contradict the failed condition.

    `before` carries every attribute but the embedded files, which are counted (`file_count`): no
    caller of a conditional write reads them, and deserialising them is most of the cost of reading
    the item back (measured: 0.39 ms with 4 files, 0.03 ms without, per delivery)."""

    applied: bool
    before: Generation | None
    file_count: int = 0
    erased: bool = False  # refused: it would have given an erased person the job (nothing written)


class AuthorErased(Exception):
    """The person a write would have given something to was erased (their hash is in ErasedPeople)."""


# --- The rules, as DynamoDB evaluates them ------------------------------------------------------


def delivery_condition(kind: Kind, webhook: CompletionWebhook) -> Condition:
    """When a completion webhook delivery applies: create on missing; forward only (processing with
    more progress, or a final state after queued/processing); the job's kind; and, when the delivery
    names a user, the job's author is absent (it may be claimed) or that user."""
    missing = Generation.job_id.does_not_exist()
    if webhook.status == JobStatus.PROCESSING:
        moves_forward = missing | (Generation.status == JobStatus.QUEUED)
        if webhook.progress is not None:
            moves_forward = moves_forward | (
                (Generation.status == JobStatus.PROCESSING) & (Generation.progress < webhook.progress)
            )
    else:
        moves_forward = missing | Generation.status.is_in(*IN_FLIGHT_STATUSES)
    condition = moves_forward & (missing | (Generation.kind == kind))
    if webhook.user_id:
        condition = condition & (
            Generation.author_id.does_not_exist() | (Generation.author_id == webhook.user_id)
        )
    return condition


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


def claim_condition(now: datetime) -> Condition:
    """One dispatcher at a time: a queued job, never sent, whose lease is free or expired."""
    return (
        (Generation.status == JobStatus.QUEUED)
        & Generation.dispatched_at.does_not_exist()
        & (Generation.dispatch_lease_until.does_not_exist() | (Generation.dispatch_lease_until < now))
    )


def live_job_condition() -> Condition:
    """An existing job that is not a tombstone (a dispatcher finishing after a delete writes nothing)."""
    return Generation.job_id.exists() & Generation.deleted_at.does_not_exist()


def unchanged_condition(job: Generation) -> Condition:
    """The job as it was read: every write that matters moves `updated_at` (and status only moves
    forward), so a delete computed from a read applies only to that state."""
    return (
        Generation.job_id.exists()
        & Generation.deleted_at.does_not_exist()
        & Generation.alias_of.does_not_exist()
        & (Generation.updated_at == job.updated_at)
        & (Generation.status == job.status)
    )


def alias_tombstone_condition(job_id: str) -> Condition:
    """An alias of the job (or nothing yet under that id: the id is spent either way)."""
    return Generation.job_id.does_not_exist() | (Generation.alias_of == job_id)


def notifiable_condition(user_id: str) -> Condition:
    """A job's notification is written only while the job is finished, notified, and still its
    author's: after a delete (a tombstone has no author) the condition check fails."""
    return (Generation.author_id == user_id) & Generation.status.is_in(*NOTIFIED_STATUSES)


def create_condition() -> Condition:
    """A job id is used once."""
    return Generation.job_id.does_not_exist()


def below_cap_condition(cap: int) -> Condition:
    """A user may add a job in flight while fewer than `cap` are."""
    return UserJobsInFlight.job_ids.does_not_exist() | (size(UserJobsInFlight.job_ids) < cap)


@dataclass(frozen=True)
class JobCreation:
    """What creating a job within the user's cap did: created (nothing else set), found the job id
    taken (`existing`), or found the user at the cap (`cap_reached`, with the ids in flight seen)."""

    existing: Generation | None = None
    cap_reached: bool = False
    jobs_in_flight: frozenset[str] = field(default_factory=frozenset)
    erased: bool = False  # the author was erased (Clerk's user.deleted): nothing written
    spent: bool = False  # the id was an erased job's: nothing written


# --- Operations ---------------------------------------------------------------------------------


def apply_delivery(
    kind: Kind,
    webhook: CompletionWebhook,
    files: list[MediaFile],
    now: datetime,
    author_hash: str | None = None,
    erased_key: str | None = None,
) -> ConditionalWrite:
    """Apply a completion webhook delivery to its job: one UpdateItem, whose condition is the rule.

    A `processing` delivery naming a user that creates the job, or gives an unattributed job its
    author, puts the job in that person's jobs in flight in the same TransactWriteItems (never refused
    for the cap: the backend already runs it; the next generate is). The UpdateItem is tried first with
    the job attributed (the usual case: the job came from generate, its id is already in the set), so
    only a job entering flight with its author pays for the transaction. That transaction also checks
    that the person (`author_hash`, their keyed hash) was not erased: an erased person is given
    nothing (`erased`, nothing written).

    With `erased_key` (the key of the job id's erased record, mediagen.rules.erasure.erased_job_key), a
    delivery that would CREATE the job does it in a TransactWriteItems that checks the id was not
    erased (and, naming a person, that they were not): an erased job leaves no item under its id, so
    the create is where it would come back. The usual delivery (the job exists) stays one UpdateItem;
    a create on missing costs that refused UpdateItem and the transaction."""
    actions = _delivery_actions(kind, webhook, files, now)
    condition = delivery_condition(kind, webhook)
    if webhook.status != JobStatus.PROCESSING or not webhook.user_id:
        if erased_key is None:
            return _update_if(webhook.job_id, actions, condition)
        return _deliver_or_create(webhook.job_id, actions, condition, erased_key, author_hash)
    return _deliver_into_flight(webhook.job_id, webhook.user_id, actions, condition, author_hash, erased_key)


def not_erased_job_condition() -> Condition:
    """The condition of a ConditionCheck on a job id's erased record: there is none."""
    return Generation.job_id.does_not_exist()


def _deliver_or_create(
    job_id: str, actions: list[Action], condition: Condition, erased_key: str, author_hash: str | None
) -> ConditionalWrite:
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    for attempt in range(TRANSACTION_ATTEMPTS):
        applied, raw = _conditional_update(job_id, actions, condition & Generation.job_id.exists())
        if applied or raw:
            return _write_of(applied, raw, job_id)
        try:
            with TransactWrite(connection=_connection()) as transaction:
                # Condition checks first in the request: the id's erased record, the person's.
                transaction.condition_check(Generation, erased_key, condition=not_erased_job_condition())
                if author_hash is not None:
                    transaction.condition_check(ErasedPerson, author_hash, condition=not_erased_condition())
                transaction.update(
                    Generation(job_id),
                    actions=actions,
                    condition=condition & Generation.job_id.does_not_exist(),
                )
            return ConditionalWrite(applied=True, before=None)
        except TransactWriteError as exc:
            codes = [reason.code if reason else None for reason in exc.cancellation_reasons or []]
            checks = 2 if author_hash is not None else 1
            if "ConditionalCheckFailed" in codes[:checks]:
                return ConditionalWrite(applied=False, before=None, erased=True)
            if codes[checks : checks + 1] == ["ConditionalCheckFailed"]:
                # Created meanwhile (another copy), or a store that returned no item above: as it stands.
                return _update_if(job_id, actions, condition)
            if "TransactionConflict" not in codes:
                raise
            time.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 - jitter, not a secret
    raise TemporaryFault("The job changed while this delivery was applied; retry.")


def enters_flight_condition(seen: Generation | None) -> Condition:
    """The job is still as seen before the transaction: missing, or unattributed and not written since.
    (The delivery's own condition comes on top.)"""
    if seen is None:
        return Generation.job_id.does_not_exist()
    unchanged = (
        Generation.updated_at == seen.updated_at
        if seen.updated_at is not None
        else Generation.updated_at.does_not_exist()
    )
    return Generation.job_id.exists() & Generation.author_id.does_not_exist() & unchanged


def _deliver_into_flight(
    job_id: str,
    user_id: str,
    actions: list[Action],
    condition: Condition,
    author_hash: str | None,
    erased_key: str | None = None,
) -> ConditionalWrite:
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    for attempt in range(TRANSACTION_ATTEMPTS):
        applied, raw = _conditional_update(job_id, actions, condition & Generation.author_id.exists())
        if applied or (raw and "author_id" in raw):
            return _write_of(applied, raw, job_id)
        seen = _item(raw, files=False)
        if seen is not None and seen.status not in IN_FLIGHT_STATUSES:
            return _write_of(False, raw, job_id)  # final (or an alias): a processing event cannot apply
        # Condition checks come first in the request: the person's erasure, then (a create) the id's.
        checks = [
            *([(ErasedPerson, author_hash, not_erased_condition())] if author_hash is not None else []),
            *([(Generation, erased_key, not_erased_job_condition())] if erased_key and seen is None else []),
        ]
        try:
            with TransactWrite(connection=_connection()) as transaction:
                for model, key, check in checks:
                    transaction.condition_check(model, key, condition=check)
                transaction.update(
                    Generation(job_id),
                    actions=actions,
                    condition=condition & enters_flight_condition(seen),
                    return_values="ALL_OLD",
                )
                transaction.update(
                    UserJobsInFlight(user_id), actions=[UserJobsInFlight.job_ids.add({job_id})]
                )
            return ConditionalWrite(applied=True, before=seen, file_count=_files_in(raw))
        except TransactWriteError as exc:
            reasons = list(exc.cancellation_reasons or [])
            if checks:
                if any(
                    reason is not None and reason.code == "ConditionalCheckFailed"
                    for reason in reasons[: len(checks)]
                ):
                    return ConditionalWrite(applied=False, before=seen, erased=True)
                reasons = reasons[len(checks) :]  # the job's update, then the user's jobs in flight
            codes = [reason.code if reason else None for reason in reasons]
            if codes[:1] == ["ConditionalCheckFailed"]:
                current = reasons[0].raw_item if reasons[0] else None
                changed = _item(current, files=False) if current else find(job_id)
                unchanged = (
                    changed is not None
                    and seen is not None
                    and not changed.author_id
                    and changed.updated_at == seen.updated_at
                )
                if unchanged:  # the delivery's own condition failed: refused, as it stands
                    return _write_of(False, current, job_id)
                continue  # created, attributed or moved on in between: decide again
            if "TransactionConflict" not in codes:
                raise
            time.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 - jitter, not a secret
    raise TemporaryFault("The job changed while this delivery was applied; retry.")


def create_job(job: Generation) -> Generation | None:
    """PutItem if no item has this job id, one request. Returns None when created, else the existing
    item (returned by DynamoDB with the failed condition: no read)."""
    request = job.get_save_kwargs_from_instance(
        condition=create_condition(), return_values_on_condition_failure="ALL_OLD"
    )
    try:
        _client().put_item(**request)
    except ClientError as exc:
        if not _condition_check_failed(exc):
            raise
        existing: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
        current = _item(existing) if existing else find(job.job_id)
        if current is None:  # it vanished in between: let the client retry
            raise TemporaryFault("The job id is being created; retry.") from exc
        return current
    return None


def create_job_within_cap(
    job: Generation, cap: int, author_hash: str, erased_key: str | None = None
) -> JobCreation:
    """The job's conditional put and its id added to its author's jobs in flight, in one
    TransactWriteItems (one request), with a check that the author (`author_hash`, their keyed hash) was
    not erased: all or nothing, so the cap holds however many generates run at once, and an erasure
    recorded before the transaction leaves nothing written. ALL_OLD with a failed condition returns the
    existing job, or the user's jobs in flight."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    author = str(job.author_id)
    for attempt in range(TRANSACTION_ATTEMPTS):
        try:
            with TransactWrite(connection=_connection()) as transaction:
                # Condition checks come first in the request, then puts, then updates.
                transaction.condition_check(ErasedPerson, author_hash, condition=not_erased_condition())
                if erased_key is not None:  # an erased job's id stays spent, though no item holds it
                    transaction.condition_check(Generation, erased_key, condition=not_erased_job_condition())
                transaction.save(job, condition=create_condition(), return_values="ALL_OLD")
                transaction.update(
                    UserJobsInFlight(author),
                    actions=[UserJobsInFlight.job_ids.add({job.job_id})],
                    condition=below_cap_condition(cap),
                    return_values="ALL_OLD",
                )
            return JobCreation()
        except TransactWriteError as exc:
            reasons = list(exc.cancellation_reasons or [])
            codes = [reason.code if reason else None for reason in reasons]
            if codes[:1] == ["ConditionalCheckFailed"]:  # the author's erasure record
                return JobCreation(erased=True)
            put = 1
            if erased_key is not None:
                put = 2
                if codes[1:2] == ["ConditionalCheckFailed"]:  # the id's erased record
                    return JobCreation(spent=True)
            if codes[put : put + 1] == ["ConditionalCheckFailed"]:  # the put
                put_reason = reasons[put]
                raw = put_reason.raw_item if put_reason else None
                current = _item(raw) if raw else find(job.job_id)
                if current is None:
                    raise TemporaryFault("The job id is being created; retry.") from exc
                return JobCreation(existing=current)
            if codes[put + 1 : put + 2] == ["ConditionalCheckFailed"]:
                slot_reason = reasons[put + 1]
                raw = slot_reason.raw_item if slot_reason else None
                slot = UserJobsInFlight.from_raw_data(raw) if raw else _slot(author)
                return JobCreation(cap_reached=True, jobs_in_flight=frozenset(slot.job_ids or ()))
            if "TransactionConflict" not in codes:
                raise
            if attempt + 1 == TRANSACTION_ATTEMPTS:
                raise TemporaryFault("Too many requests for this user at once; retry.") from exc
            time.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 - jitter, not a secret
    raise AssertionError("unreachable")


def release_finished_jobs(user_id: str, job_ids: frozenset[str]) -> int:
    """Take the user's finished (or vanished) jobs out of its jobs in flight: one consistent
    BatchGetItem of the ids (at most the cap), then one UpdateItem when some finished. Idempotent:
    a job, once final, never comes back in flight. Returns how many were released."""
    if not job_ids:
        return 0
    still = {
        job.job_id
        for job in Generation.batch_get(
            list(job_ids), consistent_read=True, attributes_to_get=["job_id", "status"]
        )
        if job.status in IN_FLIGHT_STATUSES
    }
    finished = set(job_ids) - still
    if finished:
        UserJobsInFlight(user_id).update(actions=[UserJobsInFlight.job_ids.delete(finished)])
    return len(finished)


def _slot(user_id: str) -> UserJobsInFlight:
    try:
        return UserJobsInFlight.get(user_id, consistent_read=True)
    except UserJobsInFlight.DoesNotExist:
        return UserJobsInFlight(user_id)


def cancel_if_in_flight(job_id: str, kind: Kind, user_id: str, now: datetime) -> ConditionalWrite:
    """Cancel the author's queued or processing job; canceled is final."""
    return _update_if(
        job_id,
        [
            Generation.status.set(JobStatus.CANCELED),
            Generation.updated_at.set(now),
            Generation.completed_at.set(now),
            Generation.in_flight.remove(),
            *expiry_actions(now),
        ],
        cancel_condition(kind, user_id),
    )


def fail_if_in_flight(job: Generation, error: str, now: datetime, notification: Notification | None) -> bool:
    """Fail a queued or processing job; with its author's notification in the same transaction (both
    or neither) when it has one. True when this call failed the job."""
    actions: list[Action] = [
        Generation.status.set(JobStatus.FAILED),
        Generation.error.set(error),
        Generation.updated_at.set(now),
        Generation.completed_at.set(now),
        Generation.progress.set(Generation.progress | 0),
        Generation.in_flight.remove(),
        *expiry_actions(now),
    ]
    if notification is None:
        return _update_if(job.job_id, actions, fail_condition(job)).applied
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    try:
        with TransactWrite(connection=_connection()) as transaction:
            transaction.update(Generation(job.job_id), actions=actions, condition=fail_condition(job))
            transaction.save(notification, condition=Notification.notification_id.does_not_exist())
    except TransactWriteError as exc:
        # Puts come before updates in the request: the job's update is the last item.
        reasons = exc.cancellation_reasons or []
        if reasons and reasons[-1] is not None and reasons[-1].code == "ConditionalCheckFailed":
            return False
        raise
    return True


def claim_for_dispatch(job_id: str, now: datetime, lease_seconds: int) -> ConditionalWrite:
    """Take the dispatch lease on a queued, unsent job and count the attempt."""
    return _update_if(
        job_id,
        [
            Generation.dispatch_lease_until.set(now + timedelta(seconds=lease_seconds)),
            Generation.dispatch_attempts.add(1),
        ],
        claim_condition(now),
    )


def record_dispatched(job_id: str, backend_job_id: str | None, now: datetime) -> None:
    """The backend took the job: no later message sends it again."""
    _update_if(
        job_id,
        [
            Generation.dispatched_at.set(now),
            Generation.dispatch_lease_until.remove(),
            *([Generation.backend_job_id.set(backend_job_id)] if backend_job_id else []),
        ],
        live_job_condition(),
    )


def release_dispatch_lease(job_id: str) -> None:
    """Let the next attempt claim the job at once."""
    _update_if(job_id, [Generation.dispatch_lease_until.remove()], live_job_condition())


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


def find(job_id: str) -> Generation | None:
    """One strongly consistent GetItem: a poll right after a write sees it."""
    try:
        return Generation.get(job_id, consistent_read=True)
    except Generation.DoesNotExist:
        return None


def in_flight_created_before(shard: int, cutoff: datetime, limit: int) -> Any:
    """The jobs of one shard of the sparse in-flight index created before `cutoff`, oldest first (one
    Query page at a time; the index carries kind, author and source)."""
    return Generation.in_flight_jobs.query(str(shard), Generation.created_at < cutoff, limit=limit)


def with_library_keys(job: Generation) -> Generation:
    """Set the library indexes' keys of a job being created whole (generate, migration): listed in
    its author's library when it has an author, and in its organization's when it has one too."""
    if job.author_id and not job.alias_of:
        job.library_sort = library_sort_key(job.kind, job.created_at, job.job_id)
        job.library_org = job.organization
    return job


def expiry_actions(finished_at: datetime) -> list[Action]:
    """DynamoDB's time to live of a job that reaches its final state while retention is set (reads do
    not wait for it: they check the expiry themselves)."""
    days = settings().retention_days
    if not days:
        return []
    return [Generation.expires_epoch.set(int((finished_at + timedelta(days=days)).timestamp()))]


# --- A person's library -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LibraryQueryPage:
    """One Query page of a library index: the jobs that passed the filters, newest first, and the sort
    key DynamoDB stopped at (None: the partition has nothing more)."""

    jobs: list[Generation]
    last_evaluated_sort: str | None


def library_page(
    *,
    partition: str,
    organization: bool,
    kind: Kind,
    after_sort: str | None,
    status: str | None,
    finished_after: datetime | None,
    evaluate: int,
) -> LibraryQueryPage:
    """ONE Query on a library index (a person's, or an organization's): `evaluate` entries at most,
    newest first, after `after_sort`; the status and expiry filters run on the server (they cost the
    entries evaluated, not extra requests). `finished_after`: the expiry cutoff (None: no retention)."""
    index = "library_organization" if organization else "library_author"
    hash_name = "library_org" if organization else "author_id"
    filters: list[Condition] = []
    if status is not None:
        filters.append(Generation.status == status)
    if finished_after is not None:
        filters.append(Generation.completed_at.does_not_exist() | (Generation.completed_at > finished_after))
    condition: Condition | None = None
    for part in filters:
        condition = part if condition is None else condition & part
    start = None
    if after_sort is not None:
        start = {
            "job_id": {"S": after_sort.rsplit("#", 1)[-1]},
            hash_name: {"S": partition},
            "library_sort": {"S": after_sort},
        }
    response = Generation._get_connection().query(
        partition,
        range_key_condition=Generation.library_sort.startswith(f"{kind}#"),
        filter_condition=condition,
        exclusive_start_key=start,
        index_name=index,
        limit=evaluate,
        scan_index_forward=False,
    )
    last = response.get("LastEvaluatedKey")
    return LibraryQueryPage(
        jobs=[Generation.from_raw_data(raw) for raw in response.get("Items", [])],
        last_evaluated_sort=last["library_sort"]["S"] if last else None,
    )


def authored_job_ids(user_id: str) -> Any:
    """Every job id a person authored (both kinds, deleted ones excepted), from the library_author
    index, one Query page at a time (for erasure)."""
    for job in Generation.library_by_author.query(user_id, attributes_to_get=["job_id"]):
        yield job.job_id


def tombstone_actions(status: str, now: datetime) -> list[Action]:
    """The item keeps its id, kind and times; every other attribute (author, organization, library
    keys, prompt, files, ...) is removed."""
    removed = [
        attribute.remove()
        for name, attribute in Generation.get_attributes().items()
        if name not in TOMBSTONE_KEEPS
    ]
    return [
        Generation.status.set(status),
        Generation.deleted_at.set(now),
        Generation.updated_at.set(now),
        *removed,
    ]


class JobChanged(Exception):
    """The job changed between its read and the delete's transaction: read it again."""


def tombstone_job(
    job: Generation,
    *,
    status: str,
    now: datetime,
    notification_key: tuple[str, str] | None,
    alias_ids: list[str],
    erased_keys: Mapping[str, str] | None = None,
) -> list[str]:
    """Turn the job (as read) into a tombstone, in ONE TransactWriteItems with: its notification
    deleted, its alias items turned into tombstones, and its id taken out of its author's jobs in flight
    when it was in flight. Raises JobChanged when the job is no longer as read. An alias id that is
    another job's (never written as an alias) is left out and the transaction retried. Returns the
    alias ids made tombstones.

    With `erased_keys` (an erasure: each id, the job's and its aliases', to the key of its erased
    record), nothing stays under the ids: the items are deleted and each id's erased record (its keyed
    key, `status` only) written instead, in the same transaction."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    aliases = list(alias_ids)
    while True:
        try:
            with TransactWrite(connection=_connection()) as transaction:
                if notification_key is not None:
                    transaction.delete(Notification(*notification_key))
                if erased_keys is not None:
                    # Deletes, in this order: the job, then its aliases; then the erased records.
                    transaction.delete(Generation(job.job_id), condition=unchanged_condition(job))
                    for alias in aliases:
                        transaction.delete(Generation(alias), condition=alias_tombstone_condition(job.job_id))
                    for erased in (job.job_id, *aliases):
                        transaction.update(
                            Generation(erased_keys[erased]), actions=[Generation.status.set(status)]
                        )
                else:
                    # Updates come after deletes in the request: the job, then its aliases, then the slot.
                    transaction.update(
                        Generation(job.job_id),
                        actions=tombstone_actions(status, now),
                        condition=unchanged_condition(job),
                    )
                    for alias in aliases:
                        transaction.update(
                            Generation(alias),
                            actions=tombstone_actions(status, now),
                            condition=alias_tombstone_condition(job.job_id),
                        )
                if job.author_id and job.status in IN_FLIGHT_STATUSES:
                    transaction.update(
                        UserJobsInFlight(job.author_id),
                        actions=[UserJobsInFlight.job_ids.delete({job.job_id})],
                    )
            return aliases
        except TransactWriteError as exc:
            codes = [reason.code if reason else None for reason in exc.cancellation_reasons or []]
            offset = 1 if notification_key is not None else 0
            if len(codes) > offset and codes[offset] == "ConditionalCheckFailed":
                raise JobChanged(job.job_id) from exc
            failed_aliases = {
                alias
                for position, alias in enumerate(aliases, start=offset + 1)
                if position < len(codes) and codes[position] == "ConditionalCheckFailed"
            }
            if failed_aliases:
                aliases = [alias for alias in aliases if alias not in failed_aliases]
                continue
            if "TransactionConflict" in codes:
                raise JobChanged(job.job_id) from exc
            raise


def notify_if_notifiable(notification: Notification, author_hash: str | None = None) -> bool:
    """Put the job's notification unless it exists, in one TransactWriteItems with a check that the
    job is still finished and its author's: a delete between the job's write and this one leaves no
    notification behind. True when created. With `author_hash` (the author's keyed hash), the same
    transaction checks that the author was not erased, and AuthorErased says they were."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    for attempt in range(TRANSACTION_ATTEMPTS):
        try:
            with TransactWrite(connection=_connection()) as transaction:
                if author_hash is not None:  # the first condition check of the request
                    transaction.condition_check(ErasedPerson, author_hash, condition=not_erased_condition())
                transaction.condition_check(
                    Generation,
                    notification.generation_id,
                    condition=notifiable_condition(notification.user_id),
                )
                transaction.save(notification, condition=Notification.notification_id.does_not_exist())
            return True
        except TransactWriteError as exc:
            codes = [reason.code if reason else None for reason in exc.cancellation_reasons or []]
            if author_hash is not None and codes[:1] == ["ConditionalCheckFailed"]:
                raise AuthorErased(notification.generation_id) from exc
            if "ConditionalCheckFailed" in codes:
                return False
            if "TransactionConflict" not in codes:
                raise
            if attempt + 1 == TRANSACTION_ATTEMPTS:
                raise TemporaryFault("The job changed while its notification was written; retry.") from exc
            # Copies of one delivery at once write the same two items: one wins, the others find it.
            time.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 - jitter, not a secret
    raise AssertionError("unreachable")


# --- How a delivery is written --------------------------------------------------------------------


def _delivery_actions(
    kind: Kind, webhook: CompletionWebhook, files: list[MediaFile], now: datetime
) -> list[Action]:
    data = webhook.data
    metadata = data.metadata if data else None
    actions: list[Action] = [
        Generation.kind.set(Generation.kind | kind),
        Generation.source.set(Generation.source | SOURCE_BACKEND_DIRECT),
        Generation.created_at.set(Generation.created_at | now),
        Generation.updated_at.set(now),
        Generation.status.set(webhook.status),
    ]
    if webhook.status == JobStatus.COMPLETED:
        actions.append(Generation.progress.set(100))
    elif webhook.status == JobStatus.PROCESSING and webhook.progress is not None:
        actions.append(Generation.progress.set(webhook.progress))
    else:
        actions.append(Generation.progress.set(Generation.progress | 0))
    if webhook.user_id:
        actions.append(Generation.author_id.set(Generation.author_id | webhook.user_id))
    # Only the write that creates the job decides its organization (see Generation.organization_id).
    organization = webhook.organization_id or NO_ORGANIZATION
    actions.append(Generation.organization_id.set(Generation.organization_id | organization))
    # The library's keys: the sort key once, at creation (the job's creation time); the organization
    # index's key only for an attributed job with an organization, and always the STORED organization
    # (if_not_exists of organization_id), so a delivery can never list a job in another organization.
    actions.append(
        Generation.library_sort.set(Generation.library_sort | library_sort_key(kind, now, webhook.job_id))
    )
    if webhook.user_id and webhook.organization_id:
        actions.append(Generation.library_org.set(Generation.organization_id | webhook.organization_id))
    prompt = (data.original_prompt if data else None) or (files[0].description if files else None)
    if prompt:
        actions.append(Generation.prompt.set(Generation.prompt | prompt))
    if metadata and metadata.model_name:
        actions.append(Generation.model.set(Generation.model | metadata.model_name))
    if webhook.status == JobStatus.PROCESSING:
        actions.append(Generation.in_flight.set(in_flight_shard(webhook.job_id)))
    else:
        actions += [Generation.completed_at.set(now), Generation.in_flight.remove(), *expiry_actions(now)]
    if webhook.status == JobStatus.FAILED:
        actions.append(Generation.error.set(webhook.error_message or DEFAULT_FAILURE))
    if webhook.status == JobStatus.COMPLETED:
        generation_time = metadata.generation_time_seconds if metadata else None
        model_name = metadata.model_name if metadata else None
        stored = [_stored_file(media, model_name, generation_time) for media in files]
        actions += [
            Generation.files.set(stored),
            Generation.num_images.set(Generation.num_images | len(files)),
            Generation.size.set(Generation.size | files[0].dimensions),
        ]
    return actions


def _stored_file(media: MediaFile, model_name: str | None, generation_time: float | None) -> GeneratedFile:
    return GeneratedFile(
        s3_key=media.file_path,
        size_bytes=media.size_bytes,
        format=media.format,
        width=media.width,
        height=media.height,
        aspect_ratio=media.dimensions,
        description=media.description,
        model=model_name,
        generation_time_seconds=generation_time,
        duration_seconds=media.duration_seconds,
        fps=media.fps,
        thumbnail_key=media.thumbnail_path,
    )


# --- Requests -------------------------------------------------------------------------------------


def _connection() -> Connection:
    """PynamoDB's public low-level connection (the models' one, `shared_connection`). Used for what the
    Model API does not offer: an UpdateItem or PutItem that returns the item with a failed condition
    (ALL_OLD), and a transaction."""
    return Generation._get_connection().connection


def _client() -> Any:
    """The connection's botocore client: its ClientError keeps the item DynamoDB returns with a failed
    condition (PynamoDB's own calls drop it, which would cost a read)."""
    return _connection().client


def _update_if(job_id: str, actions: list[Action], condition: Condition) -> ConditionalWrite:
    """UpdateItem with `condition`, one request: ALL_OLD on success and on condition failure."""
    return _write_of(*_conditional_update(job_id, actions, condition), job_id)


def _conditional_update(
    job_id: str, actions: list[Action], condition: Condition
) -> tuple[bool, dict[str, Any] | None]:
    """UpdateItem with `condition`: whether it applied, and the raw item before it (applied) or as it
    is (refused; None when missing, or when the store does not return it)."""
    request = Generation(job_id).get_update_kwargs_from_instance(
        actions, condition, return_values_on_condition_failure="ALL_OLD"
    )
    request["ReturnValues"] = "ALL_OLD"
    try:
        response: dict[str, Any] = _client().update_item(**request)
    except ClientError as exc:
        if not _condition_check_failed(exc):
            raise
        return False, exc.response.get("Item")  # type: ignore[return-value]
    return True, response.get("Attributes")


def _write_of(applied: bool, raw: dict[str, Any] | None, job_id: str) -> ConditionalWrite:
    if applied or raw:
        return ConditionalWrite(applied=applied, before=_item(raw, files=False), file_count=_files_in(raw))
    found = find(job_id)  # refused, and the store did not return the item
    return ConditionalWrite(applied=False, before=found, file_count=len(found.files or []) if found else 0)


def _condition_check_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def condition_failed(exc: Exception) -> bool:
    """A PynamoDB error caused by a failed condition (and not by throttling, a timeout, ...)."""
    cause = getattr(exc, "cause", None)
    return isinstance(cause, ClientError) and _condition_check_failed(cause)


def _item(raw: dict[str, Any] | None, *, files: bool = True) -> Generation | None:
    if not raw:
        return None
    return Generation.from_raw_data(
        raw if files else {name: value for name, value in raw.items() if name != "files"}
    )


def _files_in(raw: dict[str, Any] | None) -> int:
    return len((raw or {}).get("files", {}).get("L", []))


# --- A person's erasure ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthoredPage:
    """One Query page of a person's jobs (the library_author index, both kinds): each job with the
    attributes the index projects (its files among them), and where the next page starts (None: the
    last page)."""

    jobs: list[Generation]
    next_start: dict[str, Any] | None


def authored_jobs_page(user_id: str, start: dict[str, Any] | None, limit: int) -> AuthoredPage:
    """ONE Query of the person's jobs on the library_author index (every job they authored, in any
    organization, that is not a tombstone; aliases and unattributed jobs are not in it)."""
    response = Generation._get_connection().query(
        user_id, index_name="library_author", exclusive_start_key=start, limit=limit
    )
    return AuthoredPage(
        jobs=[Generation.from_raw_data(raw) for raw in response.get("Items", [])],
        next_start=response.get("LastEvaluatedKey"),
    )


def jobs_in_flight_of(user_id: str) -> frozenset[str]:
    """The ids of the person's jobs in flight (their entry of JobsInFlight), one consistent GetItem."""
    return frozenset(_slot(user_id).job_ids or ())


def forget_jobs_in_flight(user_id: str) -> None:
    """Delete the person's entry of JobsInFlight (one DeleteItem; absent: nothing happens)."""
    UserJobsInFlight(user_id).delete()
