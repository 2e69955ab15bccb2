"""SQS consumer: removes the files of deleted jobs from the media bucket (partial batch failures: a
failed message comes back on its own, then goes to the dead-letter queue, which is alarmed)."""

from typing import Any

# Imported before anything imports pydantic (docs/architecture.md, "SQS records").
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from mediagen.contract.payloads import FileRemovalMessage
from mediagen.core.observability import MetricName, bind, count, logger, metrics
from mediagen.core.settings import load_settings
from mediagen.outbound import file_removal

load_settings("media_bucket")


def remove_files(record: SQSRecord) -> None:
    """The files of one deleted job; raising reports the record failed (it comes back)."""
    try:
        message = FileRemovalMessage.model_validate_json(record.body)
        bind(correlation_id=message.job_id)
        removed = file_removal.remove(message)
        count(MetricName.FILES_REMOVED, removed)
        logger.info("Files of a deleted job removed", extra={"files": removed})
    except Exception:
        logger.exception("File removal failed; the message comes back")
        raise


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event, remove_files, processor, context)
