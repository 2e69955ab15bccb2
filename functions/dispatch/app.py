"""SQS consumer: sends each queued job to the generation backend (partial batch failures)."""

from contextlib import suppress
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from mediagen import dispatch_queue
from mediagen.api import is_retryable
from mediagen.dispatch import RetryLater, backoff_seconds, dispatch
from mediagen.observability import flush_metrics, logger
from mediagen.payloads import DispatchMessage

# A batch that fails whole is still answered with its item failures, so each message keeps its own backoff.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def dispatch_record(record: SQSRecord) -> str:
    message = DispatchMessage.model_validate_json(record.body)
    try:
        return dispatch(message.job_id)
    except RetryLater as retry:
        dispatch_queue.retry_later(record.receipt_handle, retry.delay_seconds)
        raise
    except Exception as fault:
        if is_retryable(fault):  # throttling, a timeout: come back after the backoff, not 3 minutes
            with suppress(Exception):
                dispatch_queue.retry_later(record.receipt_handle, backoff_seconds())
        raise


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    try:
        return process_partial_response(
            event=event, record_handler=dispatch_record, processor=processor, context=context
        )
    finally:
        flush_metrics()
