"""SQS consumer: erases the person each message names (mediagen.rules.erasure), one message at a time.
A pass that runs short of time queues its continuation; one that fails comes back (SQS), and after
every attempt lands in the dead-letter queue, which is alarmed (docs/runbook.md)."""

from typing import Any

from mediagen.contract.payloads import ErasureMessage, QueueEvent
from mediagen.core.observability import logger, metrics
from mediagen.core.settings import load_settings
from mediagen.rules.erasure import erasure_pass

load_settings("erasure_hash_key|erasure_hash_key_arn", "erasure_queue_url", "media_bucket")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    failures: list[dict[str, str]] = []
    for record in QueueEvent.model_validate(event).Records:
        try:
            message = ErasureMessage.model_validate_json(record.body)
            erasure_pass(message, time_left=lambda: context.get_remaining_time_in_millis() / 1000)
        except Exception:
            logger.exception("Erasure pass failed; the message comes back")
            failures.append({"itemIdentifier": record.message_id})
    return {"batchItemFailures": failures}
