"""A completion webhook delivery's decision (images and videos alike), once `edge.completion_delivery`
has checked it (size, UTF-8, signature, content type, strict JSON, the contract's payload); the files'
folder is checked here, before anything is written. Then ONE conditional UpdateItem carries the whole
decision (`deliveries.delivery_condition`: create on missing, attribution, forward-only status and
progress); DynamoDB returns the item before the write, or the item that made the condition fail, so no
read comes first. A finished job then gets its
notification with a second, conditional request whose key is derived from the stored completion time:
the same key on every delivery, so a delivery that died between the two writes is completed by the
next retry, and never doubled.

An erased person (Clerk's user.deleted) is given nothing, at no request more: the transaction that gives
a `processing` job its author, and the notification's transaction of a finished one, check their keyed
hash (ErasedPeople); refused there, the delivery answers `erased` and what it wrote becomes a tombstone.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from mediagen.contract.payloads import (
    NOTIFIED_STATUSES,
    CompletionWebhook,
    JobStatus,
    Kind,
    MediaFile,
    WebhookAnswer,
)
from mediagen.core.errors import Conflict, InvalidPayload, TemporaryFault
from mediagen.core.observability import MetricName, count, logger
from mediagen.core.settings import settings
from mediagen.core.shared_rules import IMAGE_FORMATS, VIDEO_FORMATS, outside_folder
from mediagen.data.deliveries import apply_delivery
from mediagen.data.jobs import DEFAULT_FAILURE, SOURCE_BACKEND_DIRECT
from mediagen.data.models import Generation
from mediagen.data.notifications import AuthorErased
from mediagen.data.tombstones import ERASED_STATUS
from mediagen.outbound import file_removal
from mediagen.rules import erasure, library, retention
from mediagen.rules.notifications import job_notification, notify_once

Outcome = Literal["created", "updated", "duplicate", "stale", "deleted", "erased"]
Refusal = Literal["job_owned_by_another_user", "job_kind_mismatch"]


@dataclass(frozen=True)
class JobState:
    """What the notification step needs to know of the job after the delivery."""

    author_id: str | None
    status: str
    finished_at: datetime | None
    source: str
    file_count: int
    error: str | None


def apply_completion(kind: Kind, webhook: CompletionWebhook) -> WebhookAnswer:
    """Apply one webhook delivery to its job (internal failures go through jobs.fail_in_flight)."""
    return _apply(kind, webhook, media_files(kind, webhook))


def _apply(kind: Kind, webhook: CompletionWebhook, files: list[MediaFile]) -> WebhookAnswer:
    now = datetime.now(UTC)
    named = erasure.person_hash(webhook.user_id) if webhook.user_id else None
    write = apply_delivery(
        kind,
        webhook,
        files,
        now,
        named,
        erasure.erased_job_key(webhook.job_id),
        expires_epoch=retention.time_to_live(now),
    )
    if write.erased:  # it would have given an erased person the job: nothing was written
        return _refuse_for_an_erased_person(kind, webhook, written=False)
    if write.applied:
        outcome: Outcome = "created" if write.before is None else "updated"
        state = state_after_write(webhook, write.before, len(files), now)
        _count_transition(webhook, write.before, state)
    else:
        current = write.before
        if current is None or current.status is None or current.kind is None:
            # DynamoDB never returns these with a failed condition; if a store does, let the sender retry.
            raise TemporaryFault("The job changed while this delivery was applied; retry.")
        if current.alias_of and current.alias_of != webhook.job_id:
            # The old backend's own id: the event belongs to our job (one hop: an alias names a job).
            logger.info("Event for a backend alias redirected to its job", extra={"job_id": current.alias_of})
            # Its files lie in the folder of the id it was sent with (checked): the alias item holds it.
            answer = _apply(kind, webhook.model_copy(update={"job_id": current.alias_of}), files)
            return answer.model_copy(update={"job_id": webhook.job_id})  # the sender's id, as it sent it
        if retention.is_tombstone(current) or retention.expired(current, now):
            # Its id is spent: acknowledged, nothing stored, no notification; the files the backend
            # wrote for it anyway leave the bucket too.
            if files:  # the delivery's files, the ones it names (media_files refused any other)
                file_removal.enqueue(webhook.job_id, webhook.file_keys(), [])
            logger.info("Delivery for a deleted job acknowledged", extra={"tombstone": current.status})
            # The tombstone's own status: `deleted`, or `erased` (a person erased, issue 22).
            spent: Outcome = "erased" if current.status == ERASED_STATUS else "deleted"
            return WebhookAnswer(job_id=webhook.job_id, outcome=spent)
        _raise_refusal(kind, webhook, current)
        outcome = refused_outcome(webhook, current)
        state = JobState(
            author_id=current.author_id,
            status=current.status,
            finished_at=current.completed_at,
            source=current.source,
            file_count=write.file_count,
            error=current.error,
        )
    if state.status in NOTIFIED_STATUSES and state.author_id and state.finished_at:
        notification = job_notification(
            user_id=state.author_id,
            job_id=webhook.job_id,
            kind=kind,
            status=state.status,
            finished_at=state.finished_at,
            source=state.source,
            file_count=state.file_count,
            error=state.error,
        )
        try:
            # The notification's transaction also checks that its person was not erased (no request
            # more): a finished job of an erased person, or one this delivery just gave them, goes.
            notify_once(notification, erasure.person_hash(state.author_id))
        except AuthorErased:
            return _refuse_for_an_erased_person(kind, webhook, written=True)
    return WebhookAnswer(job_id=webhook.job_id, outcome=outcome)


def _refuse_for_an_erased_person(kind: Kind, webhook: CompletionWebhook, *, written: bool) -> WebhookAnswer:
    """The delivery concerns an erased person: acknowledged, outcome `erased`, nothing kept. What it
    wrote (`written`: a finished job the notification step found to be theirs) becomes an `erased`
    tombstone at once (the library's delete: no job, no notification, the id spent), and the files it
    names and its job's folder leave the bucket."""
    deleted = library.delete_job(webhook.job_id, erased_key=erasure.erased_job_key) if written else None
    if deleted is None:  # nothing written, or made a tombstone meanwhile (an erasure pass)
        folder = settings().media_key_prefix(kind, webhook.job_id)
        file_removal.enqueue(webhook.job_id, webhook.file_keys(), [folder])
    logger.warning("Delivery for an erased person: nothing stored", extra={"written": written})
    return WebhookAnswer(job_id=webhook.job_id, outcome="erased")


def media_files(kind: Kind, webhook: CompletionWebhook) -> list[MediaFile]:
    """The delivery's files for `kind`, each inside the job's own folder; a completed delivery must
    list at least one."""
    data = webhook.data
    own, other = ("images", "videos") if kind == "image" else ("videos", "images")
    if data is not None and getattr(data, other):
        raise InvalidPayload(f"A {kind} webhook must not list data.{other}.")
    files: list[MediaFile] = list(getattr(data, own) or []) if data is not None else []
    if webhook.status == JobStatus.COMPLETED and not files:
        raise InvalidPayload(f"A completed {kind} webhook must list at least one file in data.{own}.")
    allowed = IMAGE_FORMATS if kind == "image" else VIDEO_FORMATS
    for index, media in enumerate(files):
        if media.format not in allowed:
            raise InvalidPayload(f"data.{own}[{index}].format must be one of {sorted(allowed)}.")
        if kind == "image" and media.duration_seconds is not None:
            raise InvalidPayload(f"data.{own}[{index}].duration_seconds is for videos only.")
        if kind == "video" and media.duration_seconds is None:  # the contract: "plus duration_seconds"
            raise InvalidPayload(f"data.{own}[{index}].duration_seconds is required for a video.")
    folder = settings().media_key_prefix(kind, webhook.job_id)
    for path in webhook.file_keys():  # well-formed already (CompletionWebhook's validator)
        problem = outside_folder(path, folder)
        if problem:
            raise InvalidPayload(f"file_path {path[:100]!r}: {problem}")
    return files


# --- Pure rules: what a refused write means ---------------------------------------------------------


def refusal(kind: Kind, webhook: CompletionWebhook, current: Generation) -> Refusal | None:
    """Why a delivery whose write DynamoDB refused is refused for good (409), if it is: the job is
    another user's, or of another kind. Otherwise the job is simply ahead (see refused_outcome)."""
    if webhook.user_id and current.author_id and current.author_id != webhook.user_id:
        return "job_owned_by_another_user"
    if current.kind != kind:
        return "job_kind_mismatch"
    return None


def refused_outcome(webhook: CompletionWebhook, current: Generation) -> Outcome:
    """A refused delivery to a job that is ahead: a duplicate when it repeats the job's state, else
    stale."""
    same_status = current.status == webhook.status
    same_progress = webhook.status != JobStatus.PROCESSING or webhook.progress in (None, current.progress)
    return "duplicate" if same_status and same_progress else "stale"


def state_after_write(
    webhook: CompletionWebhook, before: Generation | None, file_count: int, now: datetime
) -> JobState:
    final = webhook.status != JobStatus.PROCESSING
    return JobState(
        author_id=(before.author_id if before else None) or webhook.user_id,
        status=webhook.status,
        finished_at=now if final else None,
        source=before.source if before else SOURCE_BACKEND_DIRECT,
        file_count=file_count,
        error=(webhook.error_message or DEFAULT_FAILURE) if webhook.status == JobStatus.FAILED else None,
    )


def _raise_refusal(kind: Kind, webhook: CompletionWebhook, current: Generation) -> None:
    reason = refusal(kind, webhook, current)
    if reason is None:
        return
    count(MetricName.WEBHOOK_REFUSED)
    if reason == "job_owned_by_another_user":
        logger.warning("Webhook refused: it names another user than the job's author")
        raise Conflict("This job belongs to another user.", code=reason)
    logger.warning("Webhook refused: the job is of another kind", extra={"job_kind": current.kind})
    raise Conflict(f"This job is not {'an' if kind == 'image' else 'a'} {kind} job.", code=reason)


def _count_transition(webhook: CompletionWebhook, before: Generation | None, state: JobState) -> None:
    if before is None:
        count(MetricName.JOB_CREATED_ON_MISSING)
        logger.warning("Job created on missing", extra={"attributed": state.author_id is not None})
    if before is None and state.author_id is None:
        count(MetricName.UNATTRIBUTED_JOB)
        logger.warning("Job stored unattributed: no user named anywhere; visible to nobody")
    if webhook.status == JobStatus.COMPLETED:
        count(MetricName.JOB_COMPLETED)
    elif webhook.status == JobStatus.FAILED:
        count(MetricName.JOB_FAILED)
