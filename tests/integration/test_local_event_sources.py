"""The harness's SQS event source (the local service's, the tests' and the benchmarks'): real SQS events,
deletes what succeeded, keeps the failures."""

from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.harness.sources import SqsEventSource


@pytest.fixture
def queue() -> Any:
    with mock_aws():
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        yield sqs, url, arn


def poller(queue: Any, invoke: Any, reports_failures: bool = True) -> SqsEventSource:
    sqs, url, arn = queue
    return SqsEventSource(sqs, url, invoke, queue_arn=arn, reports_failures=reports_failures)


def remaining(queue: Any) -> list[str]:
    sqs, url, _ = queue
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return sorted(m["Body"] for m in messages)


def test_records_are_what_lambda_sends_and_failures_stay(queue: Any) -> None:
    sqs, url, arn = queue
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        events.append(event)
        failed = [r["messageId"] for r in event["Records"] if r["body"] == "b"]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}

    poller(queue, handler).poll_once()
    [event] = events
    record = event["Records"][0]
    assert {r["body"] for r in event["Records"]} == {"a", "b", "c"}
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert record["receiptHandle"] and record["messageId"] and record["md5OfBody"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert remaining(queue) == ["b"]


def test_a_function_that_raises_fails_the_whole_batch(queue: Any) -> None:
    sqs, url, _ = queue
    sqs.send_message(QueueUrl=url, MessageBody="x")

    def handler(event: dict[str, Any]) -> Any:
        raise RuntimeError("boom")

    poller(queue, handler).poll_once()
    assert remaining(queue) == ["x"]


def test_an_unknown_item_identifier_fails_the_whole_batch(queue: Any) -> None:
    sqs, url, _ = queue
    sqs.send_message(QueueUrl=url, MessageBody="x")
    poller(queue, lambda event: {"batchItemFailures": [{"itemIdentifier": "nope"}]}).poll_once()
    assert remaining(queue) == ["x"]


def test_without_report_batch_item_failures_a_return_value_deletes_all(queue: Any) -> None:
    sqs, url, _ = queue
    sqs.send_message(QueueUrl=url, MessageBody="x")
    poller(
        queue, lambda event: {"batchItemFailures": [{"itemIdentifier": "x"}]}, reports_failures=False
    ).poll_once()
    assert remaining(queue) == []


def test_drain_hands_every_batch_over_until_the_queue_shows_nothing(queue: Any) -> None:
    sqs, url, _ = queue
    for index in range(25):
        sqs.send_message(QueueUrl=url, MessageBody=str(index))
    seen: list[str] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        seen.extend(record["body"] for record in event["Records"])
        return {"batchItemFailures": []}

    answers = poller(queue, handler).drain()
    assert sorted(seen, key=int) == [str(i) for i in range(25)]
    assert 3 <= len(answers) <= 25 and remaining(queue) == []
