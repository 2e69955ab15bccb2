"""A completion webhook delivery at the HTTP edge: the checks that come first, in order, before anything
is parsed or written (size, UTF-8, the Standard Webhooks signature over the raw bytes, content type,
strict JSON, the contract's payload), then the decision (`rules.completion_webhook.apply_completion`)."""

from typing import Any

from mediagen.contract.payloads import CompletionWebhook, Kind, WebhookAnswer
from mediagen.core.errors import MalformedRequest, NotAuthenticated
from mediagen.core.observability import MetricName, bind, count, logger
from mediagen.edge.api import headers_of, parse_json_body, raw_body, require_json_content
from mediagen.edge.webhook_signature import active_secrets, verify_delivery
from mediagen.rules.completion_webhook import apply_completion

MAX_WEBHOOK_BYTES = 256 * 1024
_OUTCOME_METRICS = {
    "created": MetricName.WEBHOOK_CREATED,
    "updated": MetricName.WEBHOOK_UPDATED,
    "duplicate": MetricName.WEBHOOK_DUPLICATE,
    "stale": MetricName.WEBHOOK_STALE,
    "deleted": MetricName.WEBHOOK_DELETED,
    "erased": MetricName.WEBHOOK_ERASED,
}


def receive_completion(kind: Kind, event: Any) -> WebhookAnswer:
    """Size, then signature on the raw bytes, then content type and payload: nothing is parsed and
    nothing is written for a delivery that no active secret signed."""
    headers = headers_of(event)
    body = raw_body(event, MAX_WEBHOOK_BYTES)
    try:
        body.decode("utf-8")  # Standard Webhooks signs text: bytes that are not UTF-8 cannot be verified
    except UnicodeDecodeError as exc:
        raise MalformedRequest("The body is not valid UTF-8.", code="malformed_json") from exc
    try:
        delivery_id = verify_delivery(body, headers, active_secrets())
    except NotAuthenticated as exc:
        count(MetricName.SIGNATURE_REJECTED)
        logger.warning("Webhook signature rejected", extra={"reason": exc.message})
        raise
    bind(webhook_id=delivery_id, kind=kind)
    require_json_content(headers)
    webhook = parse_json_body(body, CompletionWebhook)
    bind(correlation_id=webhook.job_id)
    answer = apply_completion(kind, webhook)
    count(_OUTCOME_METRICS[answer.outcome])
    logger.info("Webhook delivery applied", extra={"outcome": answer.outcome, "status": webhook.status})
    return answer
