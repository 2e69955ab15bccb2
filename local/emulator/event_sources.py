"""A function's event sources of template.yaml as the local service runs them: its DynamoDB streams,
its SQS queues and its rate() schedules, each invoking the function as Lambda's poller would."""

import logging
import time
from collections.abc import Callable
from typing import Any

from deploy.base.cfn_functions import FunctionSpec
from local.emulator.stack import EmbeddedAws, Stack
from local.harness.sources import DynamoDBStreamEventSource, Schedule, SqsEventSource, rate_seconds

log = logging.getLogger("local-stack")
EventSource = SqsEventSource | Schedule | DynamoDBStreamEventSource


def event_sources(
    spec: FunctionSpec, invoker: Callable[[dict[str, Any], Any], Any], aws: EmbeddedAws, stack: Stack
) -> list[EventSource]:
    """The event sources of `spec`'s function, each calling `invoker` (an invocation in one of its
    sandboxes) and logging how long it took; not started."""

    def invoke(event: dict[str, Any]) -> Any:
        started = time.monotonic()
        try:
            return invoker(event, None)
        finally:
            log.info("%s invoked (%.0f ms)", spec.logical_id, (time.monotonic() - started) * 1000)

    sources: list[EventSource] = []
    for index, source in enumerate(spec.events_of_type("DynamoDB")):
        sources.append(
            DynamoDBStreamEventSource(
                aws.client("dynamodbstreams"),
                stack.resolver(source["Stream"]),
                invoke,
                batch_size=int(source.get("BatchSize", 100)),
                reports_failures="ReportBatchItemFailures" in (source.get("FunctionResponseTypes") or []),
                max_retries=int(source.get("MaximumRetryAttempts", 5)),
                name=f"{spec.logical_id}-stream-{index}",
            )
        )
    for index, source in enumerate(spec.events_of_type("SQS")):
        queue = stack.queue_with_arn(stack.resolver(source["Queue"]))
        sources.append(
            SqsEventSource(
                aws.client("sqs"),
                queue.url,
                invoke,
                queue_arn=queue.arn,
                batch_size=int(source.get("BatchSize", 10)),
                reports_failures="ReportBatchItemFailures" in (source.get("FunctionResponseTypes") or []),
                wait_seconds=1,  # short, so that a stop is seen within a second
                name=f"{spec.logical_id}-sqs-{index}",
            )
        )
    for index, source in enumerate(spec.events_of_type("Schedule", "ScheduleV2")):
        expression = str(source.get("Schedule") or source.get("ScheduleExpression") or "")
        interval = rate_seconds(expression)
        if interval is None:
            log.warning("%s: %s is not run by the local service (rate() only)", spec.logical_id, expression)
            continue
        sources.append(Schedule(f"{spec.logical_id}-schedule-{index}", interval, invoke))
    return sources
