"""SQS consumer: sends each queued job to the generation backend, answering partial batch failures
(each failed message comes back on its own, after its backoff)."""

from contextlib import suppress
from typing import Any

from mediagen.contract.payloads import DispatchMessage, QueueEvent, QueueRecord
from mediagen.core.faults import is_retryable
from mediagen.core.observability import logger, metrics
from mediagen.core.settings import load_settings
from mediagen.outbound import dispatch_queue
from mediagen.rules.dispatch import RetryLater, backoff_seconds, dispatch

load_settings("dispatch_queue_url", "generator_url")

# Each record makes at most one backend call (10 s timeout): one is not started without this much time.
RECORD_BUDGET_MS = 15_000


def dispatch_record(record: QueueRecord) -> None:
    message = DispatchMessage.model_validate_json(record.body)
    try:
        dispatch(message.job_id)
    except RetryLater as retry:
        dispatch_queue.retry_later(record.receipt_handle, retry.delay_seconds)
        raise
    except Exception as fault:
        if is_retryable(
            fault
        ):  # throttling, a timeout: come back after the backoff, not the visibility timeout
            with suppress(Exception):
                dispatch_queue.retry_later(record.receipt_handle, backoff_seconds())
        raise


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    """The time left comes from the Lambda context (the function's Timeout in template.yaml)."""
    failures: list[dict[str, str]] = []
    for record in QueueEvent.model_validate(event).Records:
        if context.get_remaining_time_in_millis() < RECORD_BUDGET_MS:
            failures.append({"itemIdentifier": record.message_id})  # not tried: no attempt counted
            continue
        try:
            dispatch_record(record)
        except RetryLater:
            failures.append({"itemIdentifier": record.message_id})  # logged by the dispatcher
        except Exception:
            logger.exception("Dispatch of a queued job failed; the message comes back")
            failures.append({"itemIdentifier": record.message_id})
    return {"batchItemFailures": failures}
