"""SQS consumer: sends each queued job to the generation backend, answering partial batch failures
(each failed message comes back on its own, after its backoff)."""

from contextlib import suppress
from typing import Any

# Imported before anything imports pydantic (it sorts before mediagen): imported after, Powertools'
# batch utility imports the parser's every event model (docs/architecture.md, "SQS records").
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from mediagen.contract.payloads import DispatchMessage
from mediagen.core.faults import is_retryable
from mediagen.core.observability import logger, metrics
from mediagen.core.settings import load_settings
from mediagen.outbound import dispatch_queue
from mediagen.rules.dispatch import RetryLater, backoff_seconds, dispatch

load_settings("dispatch_queue_url", "generator_url")

# Each record makes at most one backend call (10 s timeout): one is not started without this much time.
RECORD_BUDGET_MS = 15_000


class NotTried(Exception):
    """Too little time left to start the record: it is reported failed, no attempt counted."""


def dispatch_record(record: SQSRecord, lambda_context: Any) -> None:
    """One queued job; raising reports the record failed (it comes back)."""
    if lambda_context.get_remaining_time_in_millis() < RECORD_BUDGET_MS:
        raise NotTried(record.message_id)
    try:
        dispatch(DispatchMessage.model_validate_json(record.body).job_id)
    except RetryLater as retry:  # logged by the dispatcher
        dispatch_queue.retry_later(record.receipt_handle, retry.delay_seconds)
        raise
    except Exception as fault:
        logger.exception("Dispatch of a queued job failed; the message comes back")
        # Throttling, a timeout: come back after the backoff, not the visibility timeout.
        if is_retryable(fault):
            with suppress(Exception):
                dispatch_queue.retry_later(record.receipt_handle, backoff_seconds())
        raise


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    """The time left comes from the Lambda context (the function's Timeout in template.yaml). A batch
    whose every record failed is answered like any other, each failure reported, not raised."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event, dispatch_record, processor, context)
