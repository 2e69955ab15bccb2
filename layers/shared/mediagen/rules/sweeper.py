"""The stuck-job sweeper: jobs queued or processing for longer than a timeout (since their creation)
become failed ("timed out"), and their authors are notified once.

It reads the sparse in-flight index (one Query per shard, no Scan; the index carries the job's kind,
author and source). Each job is failed by a conditional write (only a queued or processing job moves)
in one transaction with its author's notification: a completion that lands during the sweep wins or
loses atomically, two sweeps at once fail a job once, and a crash cannot separate the job's failure
from its notification.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mediagen.core.observability import MetricName, count, logger
from mediagen.core.settings import settings
from mediagen.data.jobs import in_flight_created_before
from mediagen.data.models import IN_FLIGHT_SHARDS
from mediagen.rules.jobs import fail_in_flight

TIMEOUT_ERROR = "timed out"
MAX_JOBS_PER_SWEEP = 500  # bounded work per run; the next run, 5 minutes later, takes the rest


@dataclass(frozen=True)
class SweepReport:
    examined: int
    timed_out: int


def sweep(now: datetime | None = None) -> SweepReport:
    cutoff = (now or datetime.now(UTC)) - timedelta(minutes=settings().stuck_job_timeout_minutes)
    examined = timed_out = 0
    for shard in range(IN_FLIGHT_SHARDS):
        if examined >= MAX_JOBS_PER_SWEEP:
            break
        for stuck in in_flight_created_before(shard, cutoff, MAX_JOBS_PER_SWEEP):
            examined += 1
            try:
                failed = fail_in_flight(stuck, TIMEOUT_ERROR)
            except Exception:  # one job must not stop the sweep: it stays in flight, the next run retries it
                logger.exception("Job skipped by this sweep", extra={"job": stuck.job_id})
                continue
            if failed:
                timed_out += 1
                count(MetricName.JOB_TIMED_OUT)
                logger.warning("Job timed out", extra={"job": stuck.job_id, "kind": stuck.kind})
            if examined >= MAX_JOBS_PER_SWEEP:
                break
    logger.info(
        "Sweep done", extra={"examined": examined, "timed_out": timed_out, "cutoff": cutoff.isoformat()}
    )
    return SweepReport(examined=examined, timed_out=timed_out)
