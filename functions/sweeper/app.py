"""Scheduled every 5 minutes: jobs queued or processing for STUCK_JOB_TIMEOUT_MINUTES become failed."""

from dataclasses import asdict
from typing import Any

from mediagen.core.observability import logger, metrics
from mediagen.core.settings import load_settings
from mediagen.rules.sweeper import sweep

load_settings()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return asdict(sweep())
