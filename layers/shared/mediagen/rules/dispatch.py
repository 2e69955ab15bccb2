"""Sending a queued job to the generation backend, once, with retries and a final failure.

The queue may deliver a job's message more than once (a client that repeated generate, an SQS
redelivery): a lease on the job item lets one dispatcher at a time send it, and `dispatched_at`
stops any later one. Attempts are counted on the item, so the limit holds however many messages.
"""

from datetime import UTC, datetime
from typing import Literal

from mediagen.contract.payloads import JobStatus
from mediagen.core.errors import TemporaryFault
from mediagen.core.observability import MetricName, bind, count, logger
from mediagen.core.settings import settings
from mediagen.data import dispatch_lease
from mediagen.data.jobs import record_alias
from mediagen.data.models import Generation
from mediagen.outbound import backend
from mediagen.rules.jobs import fail_in_flight

LEASE_SECONDS = 60

DispatchOutcome = Literal["sent", "skipped", "failed"]


class RetryLater(Exception):
    """The message should come back after `delay_seconds`."""

    def __init__(self, reason: str, delay_seconds: int) -> None:
        super().__init__(reason)
        self.delay_seconds = delay_seconds


def backoff_seconds() -> int:
    """The first delay between attempts; it doubles each time (10 s, 20 s, 40 s by default)."""
    return settings().dispatch_backoff_seconds


def dispatch(job_id: str) -> DispatchOutcome:
    bind(correlation_id=job_id)
    claim = dispatch_lease.claim_for_dispatch(job_id, datetime.now(UTC), LEASE_SECONDS)
    job = claim.before
    if not claim.applied:
        if job is None or job.status != JobStatus.QUEUED or job.dispatched_at is not None:
            logger.info("Dispatch skipped: the job is gone, sent already, or no longer queued")
            return "skipped"
        raise RetryLater("another dispatcher holds the job", LEASE_SECONDS)
    if job is None:  # the claim's condition requires the item: DynamoDB cannot apply it to nothing
        raise TemporaryFault("The job vanished during its dispatch.")
    attempt = int(job.dispatch_attempts or 0) + 1
    try:
        backend_job_id = backend.send(job)
    except backend.BackendUnavailable as exc:
        return _after_failed_attempt(job, attempt, str(exc))
    except backend.BackendRefused as exc:
        return _fail(job, f"The generation backend refused the job: {exc}.")
    if backend_job_id and backend_job_id != job_id:
        if not record_alias(backend_job_id, job):
            logger.error("The backend's id is already a job of ours; its webhooks will not reach this job")
        count(MetricName.BACKEND_ALIAS_RECORDED)
        logger.warning(
            "The backend answered with its own job id; recorded as an alias", extra={"alias": backend_job_id}
        )
    dispatch_lease.record_dispatched(job_id, backend_job_id, datetime.now(UTC))
    count(MetricName.DISPATCH_SENT)
    logger.info("Job sent to the generation backend", extra={"attempt": attempt})
    return "sent"


def _after_failed_attempt(job: Generation, attempt: int, reason: str) -> DispatchOutcome:
    if attempt >= settings().dispatch_max_attempts:
        return _fail(job, f"The generation backend is unavailable after {attempt} attempts: {reason}.")
    count(MetricName.DISPATCH_RETRIED)
    logger.warning("Dispatch attempt failed; retrying later", extra={"attempt": attempt, "reason": reason})
    # Release the lease so the retry can claim the job at once.
    dispatch_lease.release_dispatch_lease(job.job_id)
    raise RetryLater(reason, backoff_seconds() * 2 ** (attempt - 1))


def _fail(job: Generation, error: str) -> DispatchOutcome:
    """The job becomes failed (unless it moved on meanwhile) and its author is notified once."""
    count(MetricName.DISPATCH_FAILED)
    logger.error("Dispatch failed for good; the job is failed", extra={"error": error})
    fail_in_flight(job, error)
    return "failed"
