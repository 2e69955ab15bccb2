"""Structured logs and metrics (Powertools), shared by every function.

Metric names are the contract with the alarms in template.yaml and the runbook (docs/runbook.md).
Dimensions stay few: never a job id or a user id.
"""

import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
# Most reads (status, result) emit no metric: that is normal, not worth a warning per sandbox.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
# Flushed by `@metrics.log_metrics` (see mediagen.edge.api.lambda_entry); one invocation at a time per
# process (a Lambda sandbox), so the shared metric set needs no lock.
metrics = Metrics()


class MetricName:
    WEBHOOK_CREATED = "WebhookDeliveryCreated"
    WEBHOOK_UPDATED = "WebhookDeliveryUpdated"
    WEBHOOK_DUPLICATE = "WebhookDeliveryDuplicate"
    WEBHOOK_STALE = "WebhookDeliveryStale"
    WEBHOOK_REFUSED = "WebhookDeliveryRefused"
    SIGNATURE_REJECTED = "WebhookSignatureRejected"
    TOKEN_REJECTED = "TokenRejected"  # noqa: S105 - a metric name
    JOB_CREATED_ON_MISSING = "JobCreatedOnMissing"
    UNATTRIBUTED_JOB = "UnattributedJob"
    JOB_COMPLETED = "JobCompleted"
    JOB_FAILED = "JobFailed"
    NOTIFICATION_CREATED = "NotificationCreated"
    JOB_CREATED = "JobCreated"
    JOB_CANCELED = "JobCanceled"
    JOB_TIMED_OUT = "JobTimedOut"
    DISPATCH_SENT = "DispatchSent"
    DISPATCH_RETRIED = "DispatchRetried"
    DISPATCH_FAILED = "DispatchFailed"
    BACKEND_ALIAS_RECORDED = "BackendAliasRecorded"
    JOBS_IN_FLIGHT_LIMITED = "JobsInFlightLimited"
    WEBHOOK_DELETED = "WebhookDeliveryDeleted"  # a delivery for a deleted or expired job: nothing stored
    JOB_DELETED = "JobDeleted"
    FILES_REMOVED = "FilesRemoved"
    LIVE_EVENT_PUBLISHED = "LiveEventPublished"
    LIVE_PUBLISH_RETRIED = "LivePublishRetried"
    LIVE_PUBLISH_FAILED = "LivePublishFailed"
    LIVE_SUBSCRIBE_REFUSED = "LiveSubscribeRefused"
    # Erasure (Clerk's user.deleted, make erase).
    CLERK_EVENT_IGNORED = "ClerkEventIgnored"
    ERASURE_REQUESTED = "ErasureRequested"
    JOBS_ERASED = "JobsErased"
    FILES_ERASED = "FilesErased"
    WEBHOOK_ERASED = "WebhookDeliveryErased"
    COLD_START = "ColdStart"  # Powertools' own, with the function_name dimension


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def bind(**keys: str) -> None:
    """Add keys (correlation id, webhook id) to this invocation's log lines (cleared by the next
    invocation: `inject_lambda_context(clear_state=True)`)."""
    logger.append_keys(**keys)
