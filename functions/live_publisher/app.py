"""DynamoDB Streams consumer of the generations table: publishes each change of a job to its author's
live progress channel (and its organization's) on the AppSync Events API. A record that cannot be
published is reported as the batch's failure (ReportBatchItemFailures): Lambda retries from it, then
gives up on it after the event source mapping's retry limits (docs/runbook.md, LivePublishFailed)."""

from typing import Any

from mediagen.core.observability import logger, metrics
from mediagen.core.settings import load_settings
from mediagen.rules.live_progress import publish_records

load_settings("events_http_endpoint")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    failed = publish_records(event.get("Records") or [], context.get_remaining_time_in_millis)
    return {"batchItemFailures": [{"itemIdentifier": failed}] if failed else []}
