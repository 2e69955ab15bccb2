"""The dashboard of deploy/monitoring.yaml (deploy/monitoring.py builds the stack): the service's
metrics by widget, then the dead-letter queues, stream iterator ages, the API, the functions and the
tables of template.yaml."""

from deploy.monitoring_alarms import (
    DEAD_LETTER_QUEUE,
    ERASURE_DEAD_LETTER_QUEUE,
    FILE_REMOVAL_DEAD_LETTER_QUEUE,
    LIVE_DEAD_LETTER_QUEUE,
    PERIOD,
    stream_consumers,
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
