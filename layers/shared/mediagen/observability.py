"""Structured logs and metrics (Powertools), shared by every function.

Metric names are the contract with the alarms in template.yaml and the runbook (docs/runbook.md).
Dimensions stay few: never a job id or a user id.
"""

import threading
import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
# Most reads (status, result) emit no metric: that is normal, not worth a warning per sandbox.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


class _Metrics(Metrics):
    """Powertools' Metrics, flushed by `@metrics.log_metrics` (see mediagen.api.lambda_entry)."""

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        # Taken under the lock `count` takes: see _metrics_lock.
        with _metrics_lock:
            super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)


metrics = _Metrics()


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
    COLD_START = "ColdStart"  # Powertools' own, with the function_name dimension


# Lambda runs one invocation per process at a time, but the local service and the concurrency tests
# run handlers in threads: the shared metric set is only touched under this lock.
_metrics_lock = threading.Lock()


def count(name: str, value: int = 1) -> None:
    with _metrics_lock:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def bind(**keys: str) -> None:
    """Add keys (correlation id, webhook id) to this invocation's log lines; per thread."""
    logger.thread_safe_append_keys(**keys)
