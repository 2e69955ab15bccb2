"""Retention, the one source of its rule: a finished job expires `RETENTION_DAYS` (the template's
RetentionDays) after it finished, under the setting in force when asked (0: kept forever). From that
moment every read treats it exactly as a deleted job (a tombstone). The data tier is given the values
computed here (the TTL a final write sets, the list's cutoff); it never reads the setting.

The bucket's lifecycle runs on another clock (each object's creation, S3 cannot count from a job's
completion): docs/architecture.md, "Retention", gives the bound between the two.
"""

from datetime import UTC, datetime, timedelta

from mediagen.contract.payloads import JobStatus
from mediagen.core.settings import settings
from mediagen.data.models import Generation


def retention_set() -> bool:
    """The deployment keeps finished jobs for a while only (status bodies then carry `expires_at`)."""
    return bool(settings().retention_days)


def expiry_after(finished_at: datetime) -> datetime | None:
    """When a job finished at `finished_at` expires under the current setting (None: kept forever)."""
    days = settings().retention_days
    return finished_at + timedelta(days=days) if days else None


def expires_at(job: Generation) -> datetime | None:
    """When a finished job expires (None: kept forever, or not finished)."""
    if job.completed_at is None or job.status not in (s.value for s in JobStatus):
        return None
    return expiry_after(job.completed_at)


def expired(job: Generation, now: datetime | None = None) -> bool:
    """A finished job past its retention is treated exactly as a deleted one."""
    expiry = expires_at(job)
    return expiry is not None and expiry <= (now or datetime.now(UTC))


def is_tombstone(job: Generation) -> bool:
    """A deleted (or erased) job's item: its id is spent."""
    return job.deleted_at is not None


def time_to_live(finished_at: datetime) -> int | None:
    """DynamoDB's TTL (`expires_epoch`, seconds) of a job reaching its final state at `finished_at`, from
    the setting then in force (None: none). Reads do not wait for it: they check `expired` themselves."""
    expiry = expiry_after(finished_at)
    return int(expiry.timestamp()) if expiry is not None else None


def finished_after(now: datetime) -> datetime | None:
    """A list's cutoff: the jobs finished before it have expired (None: no retention)."""
    days = settings().retention_days
    return now - timedelta(days=days) if days else None
