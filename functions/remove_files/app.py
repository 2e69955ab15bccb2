"""SQS consumer: removes the files of deleted jobs from the media bucket (partial batch failures: a
failed message comes back on its own, then goes to the dead-letter queue, which is alarmed)."""

from typing import Any

from mediagen.contract.payloads import FileRemovalMessage, QueueEvent
from mediagen.core.observability import MetricName, bind, count, logger, metrics
from mediagen.core.settings import load_settings
from mediagen.outbound import file_removal

load_settings("media_bucket")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    failures: list[dict[str, str]] = []
    for record in QueueEvent.model_validate(event).Records:
        try:
            message = FileRemovalMessage.model_validate_json(record.body)
            bind(correlation_id=message.job_id)
            removed = file_removal.remove(message)
            count(MetricName.FILES_REMOVED, removed)
            logger.info("Files of a deleted job removed", extra={"files": removed})
        except Exception:
            logger.exception("File removal failed; the message comes back")
            failures.append({"itemIdentifier": record.message_id})
    return {"batchItemFailures": failures}
