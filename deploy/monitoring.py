"""deploy/monitoring.yaml: the monitoring of the application (alert topic, alarms, dashboard), a nested
stack of its own (`Monitoring`, an AWS::Serverless::Application in template.yaml), generated from the
short tables below and the functions and tables of template.yaml. `make monitoring` writes it; a test
checks that it is current and that template.yaml passes it every parameter it declares.

Why generated: CloudFormation has no loop that `sam build` accepts (SAM CLI 1.170.0 fails on
`Fn::ForEach`), and one alarm per function and per table is the same 30 lines each time. Here each
alarm is one row, a new function or table gets its alarms by `make monitoring`, and every alarm's
text names its runbook entry (docs/runbook.md; tests/integration/test_operations.py checks both).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deploy.base.cfn_functions import functions
from deploy.base.cfn_template import table_definitions

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "deploy" / "monitoring.yaml"
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

# The dashboard: one widget per row, laid out two by two. Service metrics by name; AWS metrics as
# CloudWatch's metric arrays (`${Parameter}` is substituted by Fn::Sub).
SERVICE_WIDGETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Webhook deliveries by outcome",
        (
            "WebhookDeliveryCreated",
            "WebhookDeliveryUpdated",
            "WebhookDeliveryDuplicate",
            "WebhookDeliveryStale",
            "WebhookDeliveryRefused",
        ),
    ),
    ("Rejections", ("WebhookSignatureRejected", "TokenRejected")),
    (
        "Jobs",
        (
            "JobCreated",
            "JobCreatedOnMissing",
            "UnattributedJob",
            "JobCompleted",
            "JobFailed",
            "JobCanceled",
            "JobTimedOut",
        ),
    ),
    ("Dispatch", ("DispatchSent", "DispatchRetried", "DispatchFailed", "BackendAliasRecorded")),
    ("Library", ("JobDeleted", "WebhookDeliveryDeleted", "FilesRemoved")),
    (
        "Live progress",
        ("LiveEventPublished", "LivePublishRetried", "LivePublishFailed", "LiveSubscribeRefused"),
    ),
    (
        "Erasure",
        ("ErasureRequested", "JobsErased", "FilesErased", "WebhookDeliveryErased", "ClerkEventIgnored"),
    ),
)


def stream_consumers() -> list[str]:
    """The functions a DynamoDB stream invokes (their IteratorAge is watched)."""
    return [spec.logical_id for spec in functions() if spec.events_of_type("DynamoDB")]


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _alarm(description: str, anchor: str, **properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": f"{description} {RUNBOOK}{anchor}.",
            **properties,
            "TreatMissingData": "notBreaching",
            "AlarmActions": [_ref("AlertTopic")],
            "OKActions": [_ref("AlertTopic")],
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
            Namespace=_ref("MetricsNamespace"),
            MetricName=alarm.metric,
            Dimensions=[{"Name": "service", "Value": "mediagen"}],
            Statistic="Sum",
            Period=PERIOD,
            EvaluationPeriods=1,
            Threshold=alarm.threshold,
            ComparisonOperator=alarm.comparison,
        )
    resources["DispatchDeadLetterAlarm"] = _alarm(
        "Dispatch messages crashed the dispatcher repeatedly and sit in the dead-letter queue; their jobs "
        "may be stuck queued.",
        "dispatch-dead-letter-queue",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": _ref(f"{DEAD_LETTER_QUEUE}Name")}],
        Statistic="Maximum",
        Period=PERIOD,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    resources["LivePublishDeadLetterAlarm"] = _alarm(
        "The live progress publisher gave up on stream records (retries or age exhausted); their changes "
        "were not pushed (status reads still show them).",
        "live-publish-dead-letter-queue",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": _ref(f"{LIVE_DEAD_LETTER_QUEUE}Name")}],
        Statistic="Maximum",
        Period=PERIOD,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    for function in stream_consumers():
        resources[f"{function.removesuffix('Function')}IteratorAgeAlarm"] = _alarm(
            f"{function} is more than {ITERATOR_AGE_THRESHOLD_MS // 1000} s behind the table's stream "
            "(Lambda IteratorAge, maximum, twice in a row): live progress arrives late.",
            "stream-iterator-age",
            Namespace="AWS/Lambda",
            MetricName="IteratorAge",
            Dimensions=[{"Name": "FunctionName", "Value": _ref(function)}],
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=2,
            Threshold=ITERATOR_AGE_THRESHOLD_MS,
            ComparisonOperator="GreaterThanThreshold",
        )
    resources["ErasureDeadLetterAlarm"] = _alarm(
        "An erasure failed every attempt and sits in the dead-letter queue: a deleted person's data is "
        "not erased yet.",
        "erasure-dead-letter-queue",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": _ref(f"{ERASURE_DEAD_LETTER_QUEUE}Name")}],
        Statistic="Maximum",
        Period=PERIOD,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    resources["FileRemovalDeadLetterAlarm"] = _alarm(
        "Files of deleted jobs could not be removed after 5 attempts; their messages sit in the "
        "dead-letter queue and the files are still in the bucket.",
        "file-removal-dead-letter-queue",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": _ref(f"{FILE_REMOVAL_DEAD_LETTER_QUEUE}Name")}],
        Statistic="Maximum",
        Period=PERIOD,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    for function in function_ids:
        resources[f"{function.removesuffix('Function')}ErrorsAlarm"] = _sum_alarm(
            f"{function} failed or was throttled (Lambda Errors + Throttles).",
            "lambda-errors-and-throttles",
            "AWS/Lambda",
            "FunctionName",
            _ref(function),
            {"errors": "Errors", "throttles": "Throttles"},
        )
    api = [{"Name": "ApiId", "Value": _ref("HttpApi")}, {"Name": "Stage", "Value": "$default"}]
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
            _ref(table),
            {"reads": "ReadThrottleEvents", "writes": "WriteThrottleEvents"},
        )
    return resources


def dashboard(function_ids: list[str], table_ids: list[str]) -> str:
    """The dashboard's JSON, one metric per line (a Fn::Sub string: `${X}` are parameters)."""
    service = [
        (title, [f'["${{MetricsNamespace}}", "{metric}", "service", "mediagen"]' for metric in metrics])
        for title, metrics in SERVICE_WIDGETS
    ]
    rows_of = dict(service)  # each widget's rows, by title (the lists of `service`)
    for title, queue in (
        ("Dispatch", DEAD_LETTER_QUEUE),
        ("Library", FILE_REMOVAL_DEAD_LETTER_QUEUE),
        ("Erasure", ERASURE_DEAD_LETTER_QUEUE),
    ):
        rows_of[title].append(
            f'["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${{{queue}Name}}", '
            '{"stat": "Maximum", "label": "Dead-letter queue"}]'
        )
    rows_of["Live progress"].extend(
        [
            '["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", '
            f'"${{{LIVE_DEAD_LETTER_QUEUE}Name}}", '
            '{"stat": "Maximum", "label": "Publisher dead-letter queue"}]',
            *(
                f'["AWS/Lambda", "IteratorAge", "FunctionName", "${{{function}}}", '
                '{"stat": "Maximum", "yAxis": "right", "label": "Stream iterator age (ms)"}]'
                for function in stream_consumers()
            ),
        ]
    )
    api = '"AWS/ApiGateway", "{}", "ApiId", "${{HttpApi}}", "Stage", "$default"'
    widgets = [
        *service,
        (
            "API 5xx and latency p99",
            [f"[{api.format('5xx')}]", f'[{api.format("Latency")}, {{"stat": "p99", "yAxis": "right"}}]'],
        ),
        (
            "Lambda errors and throttles",
            [
                f'["AWS/Lambda", "{metric}", "FunctionName", "${{{function}}}"]'
                for metric in ("Errors", "Throttles")
                for function in function_ids
            ],
        ),
        (
            "DynamoDB throttling",
            [
                f'["AWS/DynamoDB", "{metric}", "TableName", "${{{table}}}"]'
                for table in table_ids
                for metric in ("ReadThrottleEvents", "WriteThrottleEvents")
            ],
        ),
    ]
    blocks = []
    for index, (title, rows) in enumerate(widgets):
        position = f'"x": {12 * (index % 2)}, "y": {6 * (index // 2)}, "width": 12, "height": 6'
        metrics = ",\n        ".join(rows)
        blocks.append(
            f'  {{"type": "metric", {position}, "properties": {{\n'
            f'      "title": "{title}", "region": "${{AWS::Region}}", "stat": "Sum", "period": {PERIOD},\n'
            f'      "view": "timeSeries", "metrics": [\n        {metrics}\n      ]}}}}'
        )
    return '{"widgets": [\n' + ",\n".join(blocks) + "\n]}\n"


def parameters(function_ids: list[str], table_ids: list[str]) -> dict[str, Any]:
    """What the application passes in: its settings, and the names of what is watched."""
    names = {
        "MetricsNamespace": "CloudWatch namespace of the functions' metrics.",
        "AlertEmail": "Optional e-mail address subscribed to the alert topic (empty for none).",
        "SignatureRejectionThreshold": "Webhook signature rejections in 5 minutes above which to alert.",
        "HttpApi": "The HTTP API's id.",
        f"{DEAD_LETTER_QUEUE}Name": "The dispatch dead-letter queue's name.",
        f"{FILE_REMOVAL_DEAD_LETTER_QUEUE}Name": "The file removal dead-letter queue's name.",
        f"{ERASURE_DEAD_LETTER_QUEUE}Name": "The erasure dead-letter queue's name.",
        f"{LIVE_DEAD_LETTER_QUEUE}Name": "The live progress publisher's dead-letter queue's name.",
    }
    declared: dict[str, Any] = {
        name: {"Type": "Number" if name.endswith("Threshold") else "String", "Description": text}
        for name, text in names.items()
    }
    declared["AlertEmail"]["Default"] = ""
    for function in function_ids:
        declared[function] = {"Type": "String", "Description": f"{function}'s name."}
    for table in table_ids:
        declared[table] = {"Type": "String", "Description": f"{table}'s name."}
    return declared


def build_monitoring() -> dict[str, Any]:
    function_ids = [spec.logical_id for spec in functions()]
    table_ids = list(table_definitions())
    resources: dict[str, Any] = {
        "AlertTopic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "mediagen alerts"}},
        "AlertEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlertEmail",
            "Properties": {
                "TopicArn": _ref("AlertTopic"),
                "Protocol": "email",
                "Endpoint": _ref("AlertEmail"),
            },
        },
        **alarms(function_ids, table_ids),
        "OperationsDashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {"DashboardBody": {"Fn::Sub": dashboard(function_ids, table_ids)}},
        },
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "mediagen monitoring: alert topic, alarms (docs/runbook.md), dashboard. Generated "
        "by deploy/monitoring.py (make monitoring): do not edit.",
        "Parameters": parameters(function_ids, table_ids),
        "Conditions": {"HasAlertEmail": {"Fn::Not": [{"Fn::Equals": [_ref("AlertEmail"), ""]}]}},
        "Resources": resources,
        "Outputs": {
            "AlertTopicArn": {"Description": "The SNS topic of every alarm", "Value": _ref("AlertTopic")}
        },
    }


class _Dumper(yaml.SafeDumper):
    """CloudFormation's short tags (`!Ref X`, `!Sub |`), block literals for multi-line strings, and no
    YAML anchors or aliases (CloudFormation rejects them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def choose_scalar_style(self) -> str:
        event = self.event
        if isinstance(event, yaml.ScalarEvent) and (event.tag or "").startswith("!") and not event.style:
            analysis = self.analysis or self.analyze_scalar(event.value)
            if analysis.allow_flow_plain and analysis.allow_block_plain and not analysis.empty:
                return ""  # `!Ref AlertTopic`, not `!Ref 'AlertTopic'`
        style: str = super().choose_scalar_style()
        return style


def _represent_dict(dumper: _Dumper, data: dict[str, Any]) -> yaml.Node:
    if len(data) == 1:
        [(key, value)] = data.items()
        if key == "Ref":
            return dumper.represent_scalar("!Ref", value)
        if key.startswith("Fn::") and key != "Fn::GetAtt":
            tag = f"!{key.removeprefix('Fn::')}"
            if isinstance(value, str):
                return dumper.represent_scalar(tag, value, style="|" if "\n" in value else None)
            return dumper.represent_sequence(tag, value, flow_style=True)
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items())


def _represent_str(dumper: _Dumper, data: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(str, _represent_str)


def render() -> str:
    header = "# Generated by deploy/monitoring.py (`make monitoring`); a test checks that it is current.\n"
    body = yaml.dump(build_monitoring(), Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)
    return header + body


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
