"""SQS consumer: erases the person each message names (mediagen.rules.erasure), one message at a time.
A pass that runs short of time queues its continuation; one that fails comes back (SQS), and after
every attempt lands in the dead-letter queue, which is alarmed (docs/runbook.md)."""

from typing import Any

# Imported before anything imports pydantic (docs/architecture.md, "SQS records").
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from mediagen.contract.payloads import ErasureMessage
from mediagen.core.observability import logger, metrics
from mediagen.core.settings import load_settings
from mediagen.rules.erasure import erasure_pass

load_settings("erasure_hash_key|erasure_hash_key_arn", "erasure_queue_url", "media_bucket")


def erase(record: SQSRecord, lambda_context: Any) -> None:
    """One erasure pass; raising reports the record failed (it comes back)."""
    try:
        message = ErasureMessage.model_validate_json(record.body)
        erasure_pass(message, time_left=lambda: lambda_context.get_remaining_time_in_millis() / 1000)
    except Exception:
        logger.exception("Erasure pass failed; the message comes back")
        raise


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event, erase, processor, context)
