"""Scheduled every 5 minutes: jobs queued or processing for STUCK_JOB_TIMEOUT_MINUTES become failed."""

from dataclasses import asdict
from typing import Any

from mediagen.observability import flush_metrics, logger
from mediagen.sweeper import sweep


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    try:
        return asdict(sweep())
    finally:
        flush_metrics()
