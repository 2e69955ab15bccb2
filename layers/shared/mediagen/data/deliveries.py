"""A completion webhook delivery, written to its job: ONE conditional UpdateItem whose condition is the
rule (create on missing, attribution, forward-only status and progress, the job's kind); a transaction
only when the job enters its author's jobs in flight, or is created where an erased job's id must stay
spent. DynamoDB returns the item before the write, or the one that made the condition fail: no read
comes first.
"""

from datetime import datetime

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mediagen.contract.payloads import IN_FLIGHT_STATUSES, CompletionWebhook, JobStatus, Kind, MediaFile
from mediagen.core.errors import TemporaryFault
from mediagen.data.erased_people import not_erased_condition
from mediagen.data.job_store import (
    TRANSACTION_ATTEMPTS,
    ConditionalWrite,
    after_conflict,
    conditional_update,
    connection,
    files_in,
    find,
    item_of,
    update_if,
    write_of,
)
from mediagen.data.jobs import (
    DEFAULT_FAILURE,
    SOURCE_BACKEND_DIRECT,
    expiry_actions,
    not_erased_job_condition,
)
from mediagen.data.models import (
    NO_ORGANIZATION,
    ErasedPerson,
    GeneratedFile,
    Generation,
    UserJobsInFlight,
    in_flight_shard,
    library_sort_key,
)

CHANGED_MEANWHILE = "The job changed while this delivery was applied; retry."


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


def apply_delivery(
    kind: Kind,
    webhook: CompletionWebhook,
    files: list[MediaFile],
    now: datetime,
    author_hash: str | None = None,
    erased_key: str | None = None,
    *,
    expires_epoch: int | None,
) -> ConditionalWrite:
    """Apply a completion webhook delivery to its job: one UpdateItem, whose condition is the rule.
    `expires_epoch`: the TTL a final state sets (mediagen.rules.retention.time_to_live; None: none).

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
    actions = _delivery_actions(kind, webhook, files, now, expires_epoch)
    condition = delivery_condition(kind, webhook)
    if webhook.status != JobStatus.PROCESSING or not webhook.user_id:
        if erased_key is None:
            return update_if(webhook.job_id, actions, condition)
        return _deliver_or_create(webhook.job_id, actions, condition, erased_key, author_hash)
    return _deliver_into_flight(webhook.job_id, webhook.user_id, actions, condition, author_hash, erased_key)


def _deliver_or_create(
    job_id: str, actions: list[Action], condition: Condition, erased_key: str, author_hash: str | None
) -> ConditionalWrite:
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    for attempt in range(TRANSACTION_ATTEMPTS):
        applied, raw = conditional_update(job_id, actions, condition & Generation.job_id.exists())
        if applied or raw:
            return write_of(applied, raw, job_id)
        try:
            with TransactWrite(connection=connection()) as transaction:
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
                return update_if(job_id, actions, condition)
            after_conflict(exc, codes, attempt, CHANGED_MEANWHILE)
    raise TemporaryFault(CHANGED_MEANWHILE)


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
        applied, raw = conditional_update(job_id, actions, condition & Generation.author_id.exists())
        if applied or (raw and "author_id" in raw):
            return write_of(applied, raw, job_id)
        seen = item_of(raw, files=False)
        if seen is not None and seen.status not in IN_FLIGHT_STATUSES:
            return write_of(False, raw, job_id)  # final (or an alias): a processing event cannot apply
        # Condition checks come first in the request: the person's erasure, then (a create) the id's.
        checks = [
            *([(ErasedPerson, author_hash, not_erased_condition())] if author_hash is not None else []),
            *([(Generation, erased_key, not_erased_job_condition())] if erased_key and seen is None else []),
        ]
        try:
            with TransactWrite(connection=connection()) as transaction:
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
            return ConditionalWrite(applied=True, before=seen, file_count=files_in(raw))
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
                changed = item_of(current, files=False) if current else find(job_id)
                unchanged = (
                    changed is not None
                    and seen is not None
                    and not changed.author_id
                    and changed.updated_at == seen.updated_at
                )
                if unchanged:  # the delivery's own condition failed: refused, as it stands
                    return write_of(False, current, job_id)
                continue  # created, attributed or moved on in between: decide again
            after_conflict(exc, codes, attempt, CHANGED_MEANWHILE)
    raise TemporaryFault(CHANGED_MEANWHILE)


# --- How a delivery is written --------------------------------------------------------------------


def _delivery_actions(
    kind: Kind, webhook: CompletionWebhook, files: list[MediaFile], now: datetime, expires_epoch: int | None
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
        actions += [
            Generation.completed_at.set(now),
            Generation.in_flight.remove(),
            *expiry_actions(expires_epoch),
        ]
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
