"""The alarms of deploy/monitoring.yaml (deploy/monitoring.py builds the stack): one row per alarm
on the service's own metrics, and the alarms every function, table, stream consumer and dead-letter
queue of template.yaml gets. Every alarm's text names its runbook entry (docs/runbook.md;
tests/integration/test_operations.py checks both)."""

from dataclasses import dataclass
from typing import Any

from deploy.base.cfn_functions import functions

PERIOD = 300
DEAD_LETTER_QUEUE = "DispatchDeadLetterQueue"
FILE_REMOVAL_DEAD_LETTER_QUEUE = "FileRemovalDeadLetterQueue"
ERASURE_DEAD_LETTER_QUEUE = "ErasureDeadLetterQueue"
LIVE_DEAD_LETTER_QUEUE = "LivePublishDeadLetterQueue"
# A stream consumer more than this behind the table (IteratorAge, ms) shows live progress late.
ITERATOR_AGE_THRESHOLD_MS = 30_000
RUNBOOK = "See docs/runbook.md#"


@dataclass(frozen=True)
class ServiceAlarm:
    """An alarm on one of the service's own metrics (MetricsNamespace, dimension service=mediagen)."""

    name: str
    metric: str
    description: str
    anchor: str
    threshold: Any = 1
    comparison: str = "GreaterThanOrEqualToThreshold"


SERVICE_ALARMS = (
    ServiceAlarm(
        "UnattributedJobAlarm",
        "UnattributedJob",
        "A job was stored with no user: the generation backend sent a webhook for an unknown job without "
        "user_id. Nobody can see it.",
        "unattributedjob",
    ),
    ServiceAlarm(
        "SignatureRejectionsAlarm",
        "WebhookSignatureRejected",
        "Many webhook deliveries failed signature checks: someone is probing the webhook, or a secret was "
        "rotated on one side only.",
        "webhooksignaturerejected",
        threshold={"Ref": "SignatureRejectionThreshold"},
        comparison="GreaterThanThreshold",
    ),
    ServiceAlarm(
        "WebhookRefusedAlarm",
        "WebhookDeliveryRefused",
        "A signed webhook named another user (or kind) than the job's: refused with 409. A backend bug or "
        "a misuse of its credentials.",
        "webhookdeliveryrefused",
    ),
    ServiceAlarm(
        "StuckJobsAlarm",
        "JobTimedOut",
        "Jobs stayed queued or processing past the timeout and were failed as timed out: the generation "
        "backend is losing jobs or its webhooks do not reach us.",
        "jobtimedout",
    ),
    ServiceAlarm(
        "DispatchFailedAlarm",
        "DispatchFailed",
        "Jobs could not be sent to the generation backend after every attempt (or it refused them) and "
        "were failed.",
        "dispatchfailed",
    ),
    ServiceAlarm(
        "LivePublishFailedAlarm",
        "LivePublishFailed",
        "Live progress could not be published to AppSync Events after every attempt: browsers see those "
        "changes late (their polling fallback still shows them).",
        "livepublishfailed",
    ),
)


def stream_consumers() -> list[str]:
    """The functions a DynamoDB stream invokes (their IteratorAge is watched)."""
    return [spec.logical_id for spec in functions() if spec.events_of_type("DynamoDB")]


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _alarm(description: str, anchor: str, **properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": f"{description} {RUNBOOK}{anchor}.",
            **properties,
            "TreatMissingData": "notBreaching",
            "AlarmActions": [ref("AlertTopic")],
            "OKActions": [ref("AlertTopic")],
        },
    }


def _metric(namespace: str, name: str, dimension: str, value: Any, label: str, stat: str = "Sum") -> Any:
    return {
        "Id": label,
        "ReturnData": False,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": name,
                "Dimensions": [{"Name": dimension, "Value": value}],
            },
            "Period": PERIOD,
            "Stat": stat,
        },
    }


def _dead_letter_alarm(description: str, anchor: str, queue: str) -> dict[str, Any]:
    """Any message in the dead-letter queue `queue` (a logical id): something failed every attempt."""
    return _alarm(
        description,
        anchor,
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": ref(f"{queue}Name")}],
        Statistic="Maximum",
        Period=PERIOD,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )


def _sum_alarm(
    description: str, anchor: str, namespace: str, dimension: str, value: Any, parts: dict[str, str]
) -> dict[str, Any]:
    """At least one in 5 minutes of the sum of several metrics of one resource (errors + throttles)."""
    metrics = [_metric(namespace, metric, dimension, value, label) for label, metric in parts.items()]
    label = " + ".join(parts)
    metrics.append({"Id": "total", "Expression": label, "Label": label})
    return _alarm(
        description,
        anchor,
        Metrics=metrics,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )


def alarms(function_ids: list[str], table_ids: list[str]) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for alarm in SERVICE_ALARMS:
        resources[alarm.name] = _alarm(
            alarm.description,
            alarm.anchor,
            Namespace=ref("MetricsNamespace"),
            MetricName=alarm.metric,
            Dimensions=[{"Name": "service", "Value": "mediagen"}],
            Statistic="Sum",
            Period=PERIOD,
            EvaluationPeriods=1,
            Threshold=alarm.threshold,
            ComparisonOperator=alarm.comparison,
        )
    resources["DispatchDeadLetterAlarm"] = _dead_letter_alarm(
        "Dispatch messages crashed the dispatcher repeatedly and sit in the dead-letter queue; their jobs "
        "may be stuck queued.",
        "dispatch-dead-letter-queue",
        DEAD_LETTER_QUEUE,
    )
    resources["LivePublishDeadLetterAlarm"] = _dead_letter_alarm(
        "The live progress publisher gave up on stream records (retries or age exhausted); their changes "
        "were not pushed (status reads still show them).",
        "live-publish-dead-letter-queue",
        LIVE_DEAD_LETTER_QUEUE,
    )
    for function in stream_consumers():
        resources[f"{function.removesuffix('Function')}IteratorAgeAlarm"] = _alarm(
            f"{function} is more than {ITERATOR_AGE_THRESHOLD_MS // 1000} s behind the table's stream "
            "(Lambda IteratorAge, maximum, twice in a row): live progress arrives late.",
            "stream-iterator-age",
            Namespace="AWS/Lambda",
            MetricName="IteratorAge",
            Dimensions=[{"Name": "FunctionName", "Value": ref(function)}],
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=2,
            Threshold=ITERATOR_AGE_THRESHOLD_MS,
            ComparisonOperator="GreaterThanThreshold",
        )
    resources["ErasureDeadLetterAlarm"] = _dead_letter_alarm(
        "An erasure failed every attempt and sits in the dead-letter queue: a deleted person's data is "
        "not erased yet.",
        "erasure-dead-letter-queue",
        ERASURE_DEAD_LETTER_QUEUE,
    )
    resources["FileRemovalDeadLetterAlarm"] = _dead_letter_alarm(
        "Files of deleted jobs could not be removed after 5 attempts; their messages sit in the "
        "dead-letter queue and the files are still in the bucket.",
        "file-removal-dead-letter-queue",
        FILE_REMOVAL_DEAD_LETTER_QUEUE,
    )
    for function in function_ids:
        resources[f"{function.removesuffix('Function')}ErrorsAlarm"] = _sum_alarm(
            f"{function} failed or was throttled (Lambda Errors + Throttles).",
            "lambda-errors-and-throttles",
            "AWS/Lambda",
            "FunctionName",
            ref(function),
            {"errors": "Errors", "throttles": "Throttles"},
        )
    api = [{"Name": "ApiId", "Value": ref("HttpApi")}, {"Name": "Stage", "Value": "$default"}]
    api_metrics = []
    for label, name in (("errors", "5xx"), ("requests", "Count")):
        metric = _metric("AWS/ApiGateway", name, "ApiId", None, label)
        metric["MetricStat"]["Metric"]["Dimensions"] = api
        api_metrics.append(metric)
    api_metrics.append(
        {"Id": "rate", "Expression": "IF(requests > 20, 100 * errors / requests, 0)", "Label": "5xx rate (%)"}
    )
    resources["Api5xxRateAlarm"] = _alarm(
        "More than 1% of API requests answered 5xx over 10 minutes.",
        "api-5xx-rate",
        Metrics=api_metrics,
        EvaluationPeriods=2,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    resources["ApiLatencyAlarm"] = _alarm(
        "The API's p99 latency stayed above 3 s for 15 minutes.",
        "api-p99-latency",
        Namespace="AWS/ApiGateway",
        MetricName="Latency",
        Dimensions=api,
        ExtendedStatistic="p99",
        Period=PERIOD,
        EvaluationPeriods=3,
        Threshold=3000,
        ComparisonOperator="GreaterThanThreshold",
    )
    for table in table_ids:
        resources[f"{table}ThrottleAlarm"] = _sum_alarm(
            f"DynamoDB throttled requests on {table}.",
            "dynamodb-throttling",
            "AWS/DynamoDB",
            "TableName",
            ref(table),
            {"reads": "ReadThrottleEvents", "writes": "WriteThrottleEvents"},
        )
    return resources
