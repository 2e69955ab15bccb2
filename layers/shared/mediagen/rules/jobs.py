"""A job's life outside webhooks: generate (one job id end to end, within the user's cap of jobs in
flight), cancel by its author, and failure decided inside (the dispatcher giving up, the sweeper timing
a job out)."""

import secrets
from datetime import UTC, datetime

from mediagen.contract.caller import Caller
from mediagen.contract.payloads import JOB_ID_PATTERN, GenerateAnswer, GenerateRequest, JobStatus, Kind
from mediagen.core.errors import (
    Conflict,
    InvalidPayload,
    NotAuthenticated,
    NotFound,
    NotPermitted,
    TooManyJobsInFlight,
)
from mediagen.core.observability import MetricName, count, logger
from mediagen.core.settings import settings
from mediagen.data import jobs as job_data
from mediagen.data import jobs_in_flight
from mediagen.data.library_index import with_library_keys
from mediagen.data.models import NO_ORGANIZATION, Generation, in_flight_shard
from mediagen.outbound import dispatch_queue
from mediagen.rules import retention
from mediagen.rules.erasure import erased_job_key, person_hash
from mediagen.rules.notifications import job_notification

SOURCE_API = "api"
DEFAULT_SIZE = "1024x1024"
DEFAULT_VIDEO_SECONDS = 8
# A user at the cap is told to come back after this: most jobs finish within it (a stuck one is
# failed by the sweeper after StuckJobTimeoutMinutes, which frees its place).
RETRY_AFTER_SECONDS = 30


def new_job_id() -> str:
    """A client-style id (like the front end's cuid): 25 URL-safe characters."""
    return "job_" + secrets.token_hex(10) + secrets.token_hex(1)[:1]


def generate(caller: Caller, kind: Kind, request: GenerateRequest) -> tuple[GenerateAnswer, bool]:
    """Create the job (conditional put, in one transaction with its place among the user's jobs in
    flight) and queue its dispatch. Returns the answer and whether the job is new. The same user
    repeating a job id gets the same job; another user's id is a 409; a user with the cap of jobs in
    flight gets TooManyJobsInFlight, and nothing is written."""
    if kind == "image" and request.duration_seconds is not None:
        raise InvalidPayload("duration_seconds is for videos only.")
    if kind == "video" and request.num_images not in (None, 1):
        raise InvalidPayload("num_images is for images only.")
    job_id = request.job_id or new_job_id()
    now = datetime.now(UTC)
    job = Generation(
        job_id=job_id,
        kind=kind,
        author_id=caller.user_id,
        organization_id=caller.organization_id or NO_ORGANIZATION,
        prompt=request.prompt,
        model=request.model,
        num_images=(request.num_images or 1) if kind == "image" else 1,
        size=request.size or DEFAULT_SIZE,
        duration_seconds=(request.duration_seconds or DEFAULT_VIDEO_SECONDS) if kind == "video" else None,
        status=JobStatus.QUEUED,
        progress=0,
        source=SOURCE_API,
        created_at=now,
        updated_at=now,
        in_flight=in_flight_shard(job_id),
    )
    existing = _create_within_cap(with_library_keys(job), caller.user_id)
    if existing is None:
        count(MetricName.JOB_CREATED)
        logger.info("Job created", extra={"kind": kind})
        dispatch_queue.enqueue(job_id)
        return generate_answer(job), True
    if (
        existing.author_id != caller.user_id  # a deleted job's tombstone has no author: its id is spent
        or existing.kind != kind
        or existing.alias_of
        or retention.expired(existing)
    ):
        # Reveal nothing of the other job: not its kind, status or owner.
        raise Conflict("This job id is already used.", code="job_id_taken")
    if existing.status == JobStatus.QUEUED and existing.dispatched_at is None:
        # The first request may have died before its dispatch was queued: queue it again; the
        # dispatcher sends a job to the backend once, however many messages name it.
        dispatch_queue.enqueue(job_id)
    return generate_answer(existing), False


def _create_within_cap(job: Generation, user_id: str) -> Generation | None:
    """None when created, else the job that already has this id. At the cap, the user's finished jobs
    are released first (their places free as they finish, fail, time out or are canceled)."""
    cap = settings().max_jobs_in_flight_per_user
    author_hash = person_hash(user_id)
    erased_key = erased_job_key(job.job_id)
    created = jobs_in_flight.create_job_within_cap(job, cap, author_hash, erased_key)
    if created.cap_reached and jobs_in_flight.release_finished_jobs(user_id, created.jobs_in_flight):
        created = jobs_in_flight.create_job_within_cap(job, cap, author_hash, erased_key)
    if created.erased:
        # Clerk deleted the account; its session token may live on for a minute. Nothing is written.
        logger.warning("Generate refused: the caller was erased")
        raise NotAuthenticated("This account was deleted.", code="account_erased")
    if created.spent:  # an erased person's job had this id: spent, as a deleted job's is
        raise Conflict("This job id is already used.", code="job_id_taken")
    if created.cap_reached:
        count(MetricName.JOBS_IN_FLIGHT_LIMITED)
        logger.info("Generate refused: the user has the cap of jobs in flight", extra={"cap": cap})
        raise TooManyJobsInFlight(
            f"You already have {cap} jobs queued or processing; retry when one finishes.",
            retry_after_seconds=RETRY_AFTER_SECONDS,
        )
    return created.existing


def generate_answer(job: Generation) -> GenerateAnswer:
    base = f"/api/{job.kind}s/{job.job_id}"
    return GenerateAnswer(
        job_id=job.job_id, status=job.status, status_url=f"{base}/status", result_url=f"{base}/result"
    )


def cancel(caller: Caller, kind: Kind, job_id: str) -> Generation:
    """The author cancels a queued or processing job; canceled is final. Repeating it is harmless.
    Returns the job as it now is."""
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise NotFound(f"No {kind} generation {job_id[:64]}.")
    now = datetime.now(UTC)
    write = job_data.cancel_if_in_flight(
        job_id, kind, caller.user_id, now, expires_epoch=retention.time_to_live(now)
    )
    if write.applied and write.before is not None:
        count(MetricName.JOB_CANCELED)
        logger.info("Job canceled", extra={"previous_status": write.before.status})
        canceled = write.before
        canceled.status, canceled.updated_at, canceled.completed_at = JobStatus.CANCELED, now, now
        return canceled
    current = write.before
    if current is None or current.kind != kind or current.alias_of or current.author_id is None:
        raise NotFound(f"No {kind} generation {job_id}.")
    if current.author_id != caller.user_id:
        if caller.organization_id and current.organization == caller.organization_id:
            raise NotPermitted("Only the job's author may cancel it.", code="not_author")
        raise NotFound(f"No {kind} generation {job_id}.")
    if current.status == JobStatus.CANCELED:
        return current
    raise Conflict(
        f"The job is {current.status}; it can no longer be canceled.",
        code="already_final",
        status=current.status,
    )


def fail_in_flight(job: Generation, error: str) -> bool:
    """Fail a queued or processing job from inside (the dispatcher, the sweeper): the job's write and
    its author's notification go in one transaction, so no crash between them can lose the
    notification (no sender retries these). Never creates a job, and only if its author is still the
    one known here. True when this call failed the job."""
    now = datetime.now(UTC)
    notification = None
    if job.author_id:
        notification = job_notification(
            user_id=job.author_id,
            job_id=job.job_id,
            kind=job.kind,
            status=JobStatus.FAILED,
            finished_at=now,
            source=job.source or job_data.SOURCE_BACKEND_DIRECT,
            file_count=0,
            error=error,
        )
    failed = job_data.fail_if_in_flight(
        job, error, now, notification, expires_epoch=retention.time_to_live(now)
    )
    if failed and notification is not None:
        count(MetricName.NOTIFICATION_CREATED)
    if failed:
        count(MetricName.JOB_FAILED)
        logger.warning("Job failed", extra={"error": error})
    return failed
