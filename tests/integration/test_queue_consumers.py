"""The three queue consumers (dispatch, erasure, remove_files) answer partial batch failures: in a batch
where one record fails, that record alone is reported (`batchItemFailures`, so SQS gives it back) and
every other record of the batch is processed and left to be deleted."""

import json
import os
from typing import Any

import boto3
import pytest

from deploy.base.lambda_events import sqs_event
from local.harness.parties import MEDIA_BUCKET
from mediagen.data.models import Generation
from tests.support import http_api_event

pytestmark = pytest.mark.usefixtures("aws")


def received(queue_variable: str) -> tuple[list[dict[str, Any]], str]:
    """What the event source mapping would receive from the queue (moto gives every message at once)
    and the queue's ARN."""
    sqs = boto3.client("sqs")
    url = os.environ[queue_variable]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages: list[dict[str, Any]] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    return messages, arn


def poison(queue_variable: str) -> None:
    """A message no consumer can read: its record must fail alone."""
    boto3.client("sqs").send_message(QueueUrl=os.environ[queue_variable], MessageBody="{not json")


def generate(job_id: str, user: str, tokens: Any, context: Any) -> None:
    from generate.app import lambda_handler as generate_handler

    event = http_api_event(
        "POST",
        "/api/images/generate",
        body=json.dumps({"prompt": "Un phare", "job_id": job_id}),
        headers={"content-type": "application/json", **tokens.auth(user)},
    )
    assert generate_handler(event, context)["statusCode"] == 202


def failed_ids(answer: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]


def test_the_dispatcher_reports_the_one_job_the_backend_did_not_take_and_sends_the_others(
    tokens: Any, lambda_context: Any, fake_backend: Any
) -> None:
    from dispatch.app import lambda_handler as dispatch_handler

    for job_id in ("job_batch_1", "job_batch_2", "job_batch_3"):
        generate(job_id, "user_a", tokens, lambda_context)
    messages, arn = received("DISPATCH_QUEUE_URL")
    assert len(messages) == 3
    fake_backend.answers = [(503, {"error": "overloaded"})]  # the batch's first call only

    answer = dispatch_handler(sqs_event(messages, arn), lambda_context)

    unlucky = fake_backend.requests[0]["job_id"]
    message_of = {json.loads(message["Body"])["job_id"]: message["MessageId"] for message in messages}
    assert failed_ids(answer) == [message_of[unlucky]]
    assert sorted(request["job_id"] for request in fake_backend.requests) == [
        "job_batch_1",
        "job_batch_2",
        "job_batch_3",
    ]
    sent = {job_id for job_id in message_of if Generation.get(job_id).dispatched_at is not None}
    assert sent == set(message_of) - {unlucky}


def test_the_erasure_worker_reports_the_unreadable_message_and_erases_the_person_of_the_other(
    tokens: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from erasure.app import lambda_handler as erasure_worker
    from mediagen.rules import erasure

    monkeypatch.setenv("ERASURE_FINAL_PASS_DELAY_SECONDS", "0")
    generate("job_of_the_erased", "user_gone", tokens, lambda_context)
    assert erasure.request_erasure("user_gone")
    poison("ERASURE_QUEUE_URL")
    messages, arn = received("ERASURE_QUEUE_URL")
    assert len(messages) == 2

    answer = erasure_worker(sqs_event(messages, arn), lambda_context)

    [unreadable] = [message["MessageId"] for message in messages if message["Body"] == "{not json"]
    assert failed_ids(answer) == [unreadable]
    assert Generation.count("job_of_the_erased") == 0
    assert Generation.get(erasure.erased_job_key("job_of_the_erased")).status == "erased"


def test_the_file_remover_reports_the_unreadable_message_and_removes_the_files_of_the_others(
    lambda_context: Any,
) -> None:
    from mediagen.outbound import file_removal
    from remove_files.app import lambda_handler as file_remover

    s3 = boto3.client("s3")
    for job_id in ("job_gone_1", "job_gone_2"):
        for index in range(2):
            s3.put_object(Bucket=MEDIA_BUCKET, Key=f"images/{job_id}/{index}.png", Body=b"\x89PNG")
        file_removal.enqueue(job_id, [], [f"images/{job_id}/"])
    poison("FILE_REMOVAL_QUEUE_URL")
    messages, arn = received("FILE_REMOVAL_QUEUE_URL")
    assert len(messages) == 3

    answer = file_remover(sqs_event(messages, arn), lambda_context)

    [unreadable] = [message["MessageId"] for message in messages if message["Body"] == "{not json"]
    assert failed_ids(answer) == [unreadable]
    assert s3.list_objects_v2(Bucket=MEDIA_BUCKET).get("KeyCount") == 0


@pytest.mark.parametrize(
    ("consumer", "queue_variable"),
    [
        ("dispatch", "DISPATCH_QUEUE_URL"),
        ("erasure", "ERASURE_QUEUE_URL"),
        ("remove_files", "FILE_REMOVAL_QUEUE_URL"),
    ],
)
def test_a_batch_whose_every_record_fails_is_answered_not_raised(
    consumer: str, queue_variable: str, lambda_context: Any
) -> None:
    """Each record is reported: raising would count an error of the function (its errors alarm) for
    what SQS handles, the message coming back and then going to the dead-letter queue."""
    import importlib

    handler = importlib.import_module(f"{consumer}.app").lambda_handler
    poison(queue_variable)
    poison(queue_variable)
    messages, arn = received(queue_variable)

    answer = handler(sqs_event(messages, arn), lambda_context)

    assert sorted(failed_ids(answer)) == sorted(message["MessageId"] for message in messages)
