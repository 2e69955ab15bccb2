"""The dispatch lease: one dispatcher at a time sends a queued job, once. A claim takes the lease and
counts the attempt; the backend's answer records the job as sent (or frees the lease at once).
"""

from datetime import datetime, timedelta

from pynamodb.expressions.condition import Condition

from mediagen.contract.payloads import JobStatus
from mediagen.data.job_store import ConditionalWrite, update_if
from mediagen.data.models import Generation


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


def claim_for_dispatch(job_id: str, now: datetime, lease_seconds: int) -> ConditionalWrite:
    """Take the dispatch lease on a queued, unsent job and count the attempt."""
    return update_if(
        job_id,
        [
            Generation.dispatch_lease_until.set(now + timedelta(seconds=lease_seconds)),
            Generation.dispatch_attempts.add(1),
        ],
        claim_condition(now),
    )


def record_dispatched(job_id: str, backend_job_id: str | None, now: datetime) -> None:
    """The backend took the job: no later message sends it again."""
    update_if(
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
    update_if(job_id, [Generation.dispatch_lease_until.remove()], live_job_condition())
