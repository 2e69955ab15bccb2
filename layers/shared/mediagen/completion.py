"""Applying a completion webhook delivery to its job.

One conditional UpdateItem carries the whole decision (create on missing, attribution, forward-only
status, files); DynamoDB returns the item before the write, or the item that made the condition fail,
so no read comes first. A finished job then gets its notification with a second, conditional request
whose key is derived from the stored completion time: the same key on every delivery, so a delivery
that died between the two writes is completed by the next retry, and never doubled.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mediagen import generations
from mediagen.errors import Conflict, ServiceUnavailable, Unprocessable
from mediagen.models import NO_ORGANIZATION, GeneratedFile, Generation, in_flight_shard
from mediagen.notifications import job_notification, notify_once
from mediagen.observability import MetricName, count, logger
from mediagen.payloads import IMAGE_FORMATS, VIDEO_FORMATS, CompletionWebhook, Kind, MediaFile, WebhookAnswer

SOURCE_BACKEND_DIRECT = "backend-direct"
DEFAULT_FAILURE = "The generation backend reported a failure."
NOTIFIED_STATUSES = frozenset({"completed", "failed"})


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
    """Apply one webhook delivery to its job (internal failures go through fail_job)."""
    files = media_files(kind, webhook)
    now = datetime.now(UTC)
    write = generations.update_if(
        webhook.job_id, _actions(kind, webhook, files, now), _condition(kind, webhook)
    )
    if write.applied:
        outcome = "created" if write.before is None else "updated"
        state = _state_after_write(webhook, write.before, len(files), now)
        _count_transition(webhook, write.before, state)
    else:
        current = write.before
        if current is None or current.status is None or current.kind is None:
            # DynamoDB never returns these with a failed condition; if a store does, let the sender retry.
            raise ServiceUnavailable("The job changed while this delivery was applied; retry.")
        if current.alias_of and current.alias_of != webhook.job_id:
            # The old backend's own id: the event belongs to our job (one hop: an alias names a job).
            logger.info("Event for a backend alias redirected to its job", extra={"job_id": current.alias_of})
            answer = apply_completion(kind, webhook.model_copy(update={"job_id": current.alias_of}))
            return answer.model_copy(update={"job_id": webhook.job_id})  # the sender's id, as it sent it
        _refuse_if_not_applicable(kind, webhook, current)
        outcome = _duplicate_or_stale(webhook, current)
        state = JobState(
            author_id=current.author_id,
            status=current.status,
            finished_at=current.completed_at,
            source=current.source,
            file_count=len(current.files or []),
            error=current.error,
        )
    if state.status in NOTIFIED_STATUSES and state.author_id and state.finished_at:
        notify_once(
            job_notification(
                user_id=state.author_id,
                job_id=webhook.job_id,
                kind=kind,
                status=state.status,
                finished_at=state.finished_at,
                source=state.source,
                file_count=state.file_count,
                error=state.error,
            )
        )
    return WebhookAnswer(job_id=webhook.job_id, outcome=outcome)


def media_files(kind: Kind, webhook: CompletionWebhook) -> list[MediaFile]:
    """The delivery's files for `kind`; a completed delivery must list at least one."""
    data = webhook.data
    own, other = ("images", "videos") if kind == "image" else ("videos", "images")
    if data is not None and getattr(data, other):
        raise Unprocessable(f"A {kind} webhook must not list data.{other}.")
    files: list[MediaFile] = list(getattr(data, own) or []) if data is not None else []
    if webhook.status == "completed" and not files:
        raise Unprocessable(f"A completed {kind} webhook must list at least one file in data.{own}.")
    allowed = IMAGE_FORMATS if kind == "image" else VIDEO_FORMATS
    for index, media in enumerate(files):
        if media.format not in allowed:
            raise Unprocessable(f"data.{own}[{index}].format must be one of {sorted(allowed)}.")
        if kind == "image" and media.duration_seconds is not None:
            raise Unprocessable(f"data.{own}[{index}].duration_seconds is for videos only.")
    return files


def _condition(kind: Kind, webhook: CompletionWebhook) -> Condition:
    missing = Generation.job_id.does_not_exist()
    if webhook.status == "processing":
        moves_forward = missing | (Generation.status == "queued")
        if webhook.progress is not None:
            moves_forward = moves_forward | (
                (Generation.status == "processing") & (Generation.progress < webhook.progress)
            )
    else:
        moves_forward = missing | Generation.status.is_in("queued", "processing")
    condition = moves_forward & (missing | (Generation.kind == kind))
    if webhook.user_id:
        # An existing job keeps its author; an unattributed one may be claimed by the named user.
        condition = condition & (
            Generation.author_id.does_not_exist() | (Generation.author_id == webhook.user_id)
        )
    return condition


def _actions(kind: Kind, webhook: CompletionWebhook, files: list[MediaFile], now: datetime) -> list[Action]:
    data = webhook.data
    metadata = data.metadata if data else None
    actions: list[Action] = [
        Generation.kind.set(Generation.kind | kind),
        Generation.source.set(Generation.source | SOURCE_BACKEND_DIRECT),
        Generation.created_at.set(Generation.created_at | now),
        Generation.updated_at.set(now),
        Generation.status.set(webhook.status),
    ]
    if webhook.status == "completed":
        actions.append(Generation.progress.set(100))
    elif webhook.status == "processing" and webhook.progress is not None:
        actions.append(Generation.progress.set(webhook.progress))
    else:
        actions.append(Generation.progress.set(Generation.progress | 0))
    if webhook.user_id:
        actions.append(Generation.author_id.set(Generation.author_id | webhook.user_id))
    # Only the write that creates the job decides its organization (see Generation.organization_id).
    organization = webhook.organization_id or NO_ORGANIZATION
    actions.append(Generation.organization_id.set(Generation.organization_id | organization))
    prompt = (data.original_prompt if data else None) or (files[0].description if files else None)
    if prompt:
        actions.append(Generation.prompt.set(Generation.prompt | prompt))
    if metadata and metadata.model_name:
        actions.append(Generation.model.set(Generation.model | metadata.model_name))
    if webhook.status in ("completed", "failed"):
        actions += [Generation.completed_at.set(now), Generation.in_flight.remove()]
    else:
        actions.append(Generation.in_flight.set(in_flight_shard(webhook.job_id)))
    if webhook.status == "failed":
        actions.append(Generation.error.set(webhook.error_message or DEFAULT_FAILURE))
    if webhook.status == "completed":
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


def _state_after_write(
    webhook: CompletionWebhook, before: Generation | None, file_count: int, now: datetime
) -> JobState:
    final = webhook.status in ("completed", "failed")
    return JobState(
        author_id=(before.author_id if before else None) or webhook.user_id,
        status=webhook.status,
        finished_at=now if final else None,
        source=before.source if before else SOURCE_BACKEND_DIRECT,
        file_count=file_count,
        error=(webhook.error_message or DEFAULT_FAILURE) if webhook.status == "failed" else None,
    )


def _count_transition(webhook: CompletionWebhook, before: Generation | None, state: JobState) -> None:
    if before is None:
        count(MetricName.JOB_CREATED_ON_MISSING)
        logger.warning("Job created on missing", extra={"attributed": state.author_id is not None})
    if before is None and state.author_id is None:
        count(MetricName.UNATTRIBUTED_JOB)
        logger.warning("Job stored unattributed: no user named anywhere; visible to nobody")
    if webhook.status == "completed":
        count(MetricName.JOB_COMPLETED)
    elif webhook.status == "failed":
        count(MetricName.JOB_FAILED)


def _refuse_if_not_applicable(kind: Kind, webhook: CompletionWebhook, current: Generation) -> None:
    if webhook.user_id and current.author_id and current.author_id != webhook.user_id:
        count(MetricName.WEBHOOK_REFUSED)
        logger.warning("Webhook refused: it names another user than the job's author")
        raise Conflict("This job belongs to another user.", code="job_owned_by_another_user")
    if current.kind != kind:
        count(MetricName.WEBHOOK_REFUSED)
        logger.warning("Webhook refused: the job is of another kind", extra={"job_kind": current.kind})
        article = "an" if kind == "image" else "a"
        raise Conflict(f"This job is not {article} {kind} job.", code="job_kind_mismatch")


def _duplicate_or_stale(webhook: CompletionWebhook, current: Generation) -> str:
    same_status = current.status == webhook.status
    same_progress = webhook.status != "processing" or webhook.progress in (None, current.progress)
    return "duplicate" if same_status and same_progress else "stale"


def fail_job(job: Generation, error: str) -> bool:
    """Fail a queued or processing job from inside (the dispatcher, the sweeper): the job's write and
    its author's notification go in one transaction, so no crash between them can lose the
    notification (no sender retries these). Never creates a job, and only if its author is still the
    one known here. True when this call failed the job."""
    now = datetime.now(UTC)
    actions: list[Action] = [
        Generation.status.set("failed"),
        Generation.error.set(error),
        Generation.updated_at.set(now),
        Generation.completed_at.set(now),
        Generation.progress.set(Generation.progress | 0),
        Generation.in_flight.remove(),
    ]
    condition = (
        Generation.job_id.exists()
        & Generation.status.is_in("queued", "processing")
        & (Generation.kind == job.kind)
        & (
            (Generation.author_id == job.author_id)
            if job.author_id
            else Generation.author_id.does_not_exist()
        )
    )
    if job.author_id:
        notification = job_notification(
            user_id=job.author_id,
            job_id=job.job_id,
            kind=job.kind,
            status="failed",
            finished_at=now,
            source=job.source or SOURCE_BACKEND_DIRECT,
            file_count=0,
            error=error,
        )
        failed = generations.update_and_notify(job.job_id, actions, condition, notification)
        if failed:
            count(MetricName.NOTIFICATION_CREATED)
    else:
        failed = generations.update_if(job.job_id, actions, condition).applied
    if failed:
        count(MetricName.JOB_FAILED)
        logger.warning("Job failed", extra={"error": error})
    return failed
