"""Fault injection: each AWS call on the webhook, generate and dispatch paths fails (throttling or a
timeout, before the request reaches AWS or after AWS applied it), then the sender retries. The end
state is what one clean delivery gives: no duplicate, no lost file, no lost or doubled notification;
and the failed attempt answered 503 (or reported the message as failed) so the sender retries.

These paths make no S3 call (result URLs are signed locally), so only DynamoDB and SQS calls are hit.
"""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.endpoint
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from completion_webhook.app import lambda_handler as webhook_handler
from generate.app import lambda_handler as generate_handler
from mediagen.data.models import Generation, Notification
from mediagen.rules import dispatch
from tests.support import completion_payload, http_api_event, response_json, webhook_event

pytestmark = pytest.mark.usefixtures("aws")

FAULTS = ["throttling", "timeout"]
MODES = ["before", "after"]  # the request never reached AWS / AWS applied it but the answer was lost


def make_fault(kind: str, operation: str) -> Exception:
    if kind == "throttling":
        response: Any = {
            "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return ClientError(response, operation)
    return ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")


@dataclass
class FaultInjector:
    """Fails the n-th AWS call (all of its retries included) made while armed."""

    calls: list[str] = field(default_factory=list)
    target: int | None = None
    fault: str = "throttling"
    mode: str = "before"
    fired: bool = False

    @contextmanager
    def armed(
        self, target: int | None = None, fault: str = "throttling", mode: str = "before"
    ) -> Iterator[None]:
        self.calls, self.target, self.fault, self.mode, self.fired = [], target, fault, mode, False
        try:
            yield
        finally:
            self.target = None


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> FaultInjector:
    injector = FaultInjector()
    original = botocore.endpoint.Endpoint._send_request  # type: ignore[attr-defined]

    def send(self: Any, request_dict: Any, operation_model: Any) -> Any:
        index = len(injector.calls)
        injector.calls.append(f"{operation_model.service_model.service_name}.{operation_model.name}")
        if injector.target is None or index != injector.target:
            return original(self, request_dict, operation_model)
        injector.fired = True
        if injector.mode == "after":
            original(self, request_dict, operation_model)
        raise make_fault(injector.fault, operation_model.name)

    monkeypatch.setattr(botocore.endpoint.Endpoint, "_send_request", send)
    return injector


def path_length(faults: FaultInjector, run: Any) -> list[str]:
    with faults.armed():
        run()
    return list(faults.calls)


def webhook_end_state(job_id: str) -> tuple[Any, ...]:
    job = Generation.get(job_id)
    notifications = list(Notification.scan())
    return (
        job.status,
        job.author_id,
        [f.s3_key.replace(job_id, "JOB") for f in job.files],
        [(n.user_id, n.generation_id, n.created_at == job.completed_at) for n in notifications],
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", FAULTS)
def test_webhook_delivery_survives_a_fault_on_every_call(
    faults: FaultInjector, lambda_context: Any, fault: str, mode: str
) -> None:
    # Given the calls one clean delivery makes (measured on a reference job)
    reference = path_length(
        faults,
        lambda: webhook_handler(
            webhook_event(completion_payload("job_ref", user_id="user_a")), lambda_context
        ),
    )
    # A create on missing: the UpdateItem finds no job, the create's transaction (it checks the id was
    # not erased), then the notification's, with a check of its job
    assert reference == [
        "dynamodb.UpdateItem",
        "dynamodb.TransactWriteItems",
        "dynamodb.TransactWriteItems",
    ]
    expected = webhook_end_state("job_ref")

    for index, call in enumerate(reference):
        job_id = f"job_fault_{index}"
        payload = completion_payload(job_id, user_id="user_a")
        for notification in Notification.scan():
            notification.delete()
        # When that call fails during the first delivery
        with faults.armed(index, fault, mode):
            first = webhook_handler(webhook_event(payload), lambda_context)
        assert faults.fired, call
        # Then the sender is told to retry, and its retry ends in the clean state
        assert first["statusCode"] == 503, (call, first["body"])
        assert response_json(first)["code"] == "service_unavailable"
        retry = webhook_handler(webhook_event(payload), lambda_context)
        assert retry["statusCode"] == 200
        assert webhook_end_state(job_id)[:3] == expected[:3]
        assert [(u, g, same) for u, g, same in webhook_end_state(job_id)[3]] == [("user_a", job_id, True)]


def post_generate(job_id: str, headers: dict[str, str], context: Any) -> dict[str, Any]:
    body = json.dumps({"prompt": "Un phare", "job_id": job_id})
    event = http_api_event(
        "POST", "/api/images/generate", body=body, headers={"content-type": "application/json", **headers}
    )
    return generate_handler(event, context)


def queue_depth() -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=os.environ["DISPATCH_QUEUE_URL"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", FAULTS)
def test_generate_and_dispatch_survive_a_fault_on_every_call(
    faults: FaultInjector,
    lambda_context: Any,
    tokens: Any,
    fake_backend: Any,
    run_dispatcher: Any,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    mode: str,
) -> None:
    monkeypatch.setattr(dispatch, "LEASE_SECONDS", 0)  # a retried dispatch may take the job at once
    monkeypatch.setenv("DISPATCH_BACKOFF_SECONDS", "0")
    headers = tokens.auth("user_a")
    reference = path_length(faults, lambda: post_generate("job_ref", headers, lambda_context))
    assert reference == ["dynamodb.TransactWriteItems", "sqs.SendMessage"]

    for index, call in enumerate(reference):
        job_id = f"job_gen_{index}"
        # When a call of generate fails, the client is told to retry, and retries
        with faults.armed(index, fault, mode):
            first = post_generate(job_id, headers, lambda_context)
        assert first["statusCode"] == 503, (call, first["body"])
        retry = post_generate(job_id, headers, lambda_context)
        assert retry["statusCode"] in (200, 202)
        assert response_json(retry)["job_id"] == job_id
        assert queue_depth() >= 1
    run_dispatcher(max_rounds=5)

    # Then each job exists once and reached the backend once
    sent = [request["job_id"] for request in fake_backend.requests]
    assert sorted(sent) == ["job_gen_0", "job_gen_1", "job_ref"]
    assert all(Generation.get(job_id).dispatched_at for job_id in sent)
    assert queue_depth() == 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", FAULTS)
def test_dispatch_survives_a_fault_on_every_call(
    faults: FaultInjector,
    lambda_context: Any,
    tokens: Any,
    fake_backend: Any,
    run_dispatcher: Any,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    mode: str,
) -> None:
    monkeypatch.setattr(dispatch, "LEASE_SECONDS", 0)
    monkeypatch.setenv("DISPATCH_BACKOFF_SECONDS", "0")
    headers = tokens.auth("user_a")
    assert post_generate("job_ref", headers, lambda_context)["statusCode"] == 202
    reference = path_length(faults, lambda: run_dispatcher())
    dispatcher_calls = [
        call for call in reference if call.startswith("dynamodb.") or call.startswith("sqs.Change")
    ]
    assert dispatcher_calls == ["dynamodb.UpdateItem", "dynamodb.UpdateItem"]

    for index, call in enumerate(reference):
        if call not in ("dynamodb.UpdateItem",):
            continue  # the receive and delete calls belong to the event source mapping, not our code
        job_id = f"job_dispatch_{index}"
        assert post_generate(job_id, headers, lambda_context)["statusCode"] == 202
        with faults.armed(index, fault, mode):
            [answer] = run_dispatcher()
        assert faults.fired, call
        assert len(answer["batchItemFailures"]) == 1, call  # the message comes back
        run_dispatcher(max_rounds=3)
        job = Generation.get(job_id)
        assert job.status == "queued" and job.dispatched_at is not None
        # At least once: a fault after the backend accepted may send again, always with our id as
        # the idempotency key, so the backend keeps one job and its webhooks land on one record.
        mine = [r for r in fake_backend.requests if r["job_id"] == job_id]
        assert 1 <= len(mine) <= 2
        assert {h["idempotency-key"] for h in fake_backend.headers if h["idempotency-key"] == job_id} == {
            job_id
        }
    assert queue_depth() == 0
    assert len([g for g in Generation.scan() if g.alias_of is None]) == 3
