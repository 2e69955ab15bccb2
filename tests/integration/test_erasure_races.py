"""An erasure racing everything that could bring the person back, with real concurrency: each invocation
in its own sandbox process (as Lambda runs them), over HTTP to DynamoDB (moto's server, then DynamoDB
Local) and S3. Whatever the order: the Clerk event delivered twice, the erasure worker's passes, the
backend's webhooks for the person's jobs (old ids and new ids naming them) and the person's own
generates, once everything has settled nothing of the person is left and the bystander keeps all."""

import json
import os
import threading
from collections import Counter
from typing import Any

import boto3
import pytest

from deploy.base.lambda_events import sqs_event
from local.emulator.sandbox import Function, InvocationError, SandboxPool
from local.harness.parties import clerk_event, clerk_payload, completion_payload, webhook_event
from local.harness.sources import SqsEventSource
from tests.integration.erasure_world import (
    PERSON,
    build_world,
    bystander_intact,
    generate_event,
    put_files,
    whats_left_of,
)
from tests.support import RACE_TIMEOUT_SECONDS, response_json

pytestmark = pytest.mark.usefixtures("aws_server")
HANDLERS = {
    "clerk": "clerk_webhook.app.lambda_handler",
    "erasure": "erasure.app.lambda_handler",
    "webhook": "completion_webhook.app.lambda_handler",
    "generate": "generate.app.lambda_handler",
}
NEW_JOBS = [f"job_person_new_{index}" for index in range(4)]
GENERATED = [f"job_person_gen_{index}" for index in range(4)]


def race(calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Every call in its own sandbox (warm, one per call), released together by a barrier."""
    functions = [Function(name, handler, timeout=RACE_TIMEOUT_SECONDS) for name, handler in HANDLERS.items()]
    per_function = Counter(name for name, _ in calls)
    answers: list[Any] = [None] * len(calls)
    with SandboxPool(functions, dict(os.environ), max(per_function.values())) as pool:
        for name, count in per_function.items():
            pool.warm(name, count)
        barrier = threading.Barrier(len(calls))

        def call(index: int) -> None:
            name, event = calls[index]
            barrier.wait()
            try:
                answers[index] = pool.invoke(name, event)
            except InvocationError as error:
                answers[index] = error

        threads = [threading.Thread(target=call, args=(index,)) for index in range(len(calls))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return answers


def settle(context: Any) -> None:
    """What happens after the race: the queues' messages handled (the erasure's continuation and final
    passes, the files' removal), as their event sources would, until both are empty."""
    from erasure.app import lambda_handler as erasure_worker
    from remove_files.app import lambda_handler as file_remover

    sqs = boto3.client("sqs")
    for _ in range(10):
        handled = SqsEventSource(
            sqs, os.environ["ERASURE_QUEUE_URL"], lambda e: erasure_worker(e, context)
        ).drain(20)
        handled += SqsEventSource(
            sqs, os.environ["FILE_REMOVAL_QUEUE_URL"], lambda e: file_remover(e, context)
        ).drain(20)
        if not handled:
            return


def test_erasure_racing_webhooks_generates_and_a_second_delivery(
    tokens: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERASURE_FINAL_PASS_DELAY_SECONDS", "0")
    monkeypatch.setenv("MAX_JOBS_IN_FLIGHT_PER_USER", "100")
    # Given the person's world, and the backend's files for the jobs it is about to report
    world = build_world(tokens, lambda_context)
    put_files([f"images/{job}/{i}.png" for job in ["job_person_queued", *NEW_JOBS] for i in range(4)])
    deletion = clerk_event(clerk_payload("user.deleted", PERSON), message_id="msg_2raced")
    body = json.dumps({"user_id": PERSON, "final_pass": False})
    pass_message = sqs_event(
        [{"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": body}],
        "arn:aws:sqs:us-east-1:123456789012:ErasureQueue",
    )

    # When all of this happens at once
    calls: list[tuple[str, dict[str, Any]]] = [
        ("clerk", deletion),
        ("clerk", dict(deletion)),  # Svix's second delivery of the same message
        ("erasure", pass_message),  # a worker pass already running (an earlier delivery's)
        ("webhook", webhook_event(completion_payload("job_person_queued", user_id=PERSON))),
        ("webhook", webhook_event(completion_payload("job_person_queued", status="processing", progress=40))),
        ("webhook", webhook_event(completion_payload("job_person_done", user_id=PERSON))),
        *[("webhook", webhook_event(completion_payload(job, user_id=PERSON))) for job in NEW_JOBS],
        *[("generate", generate_event(PERSON, tokens, org="org_2alpha", job_id=job)) for job in GENERATED],
    ]
    answers = race(calls)

    # Then every call was answered as the contract says (a 503 is retried by its sender, as here)
    for (name, event), answer in zip(calls, answers, strict=True):
        assert not isinstance(answer, InvocationError), (name, answer)
        if name == "erasure":
            if answer["batchItemFailures"]:  # its message comes back (SQS): the pass runs again
                assert race([(name, event)])[0] == {"batchItemFailures": []}
            continue
        if answer["statusCode"] == 503:
            answer = race([(name, event)])[0]
        if name == "clerk":
            assert answer["statusCode"] == 200 and response_json(answer)["outcome"] in (
                "erasing",
                "duplicate",
            )
        elif name == "webhook":
            assert answer["statusCode"] == 200, answer
        elif name == "generate":
            assert answer["statusCode"] in (202, 401), answer
    outcomes = Counter(
        response_json(a)["outcome"] for (n, _), a in zip(calls, answers, strict=True) if n == "clerk"
    )
    assert outcomes["erasing"] == 1

    # And once the queues have run, nothing of the person is left, whatever the order was
    settle(lambda_context)
    world.person_jobs += [*NEW_JOBS, *GENERATED]
    assert whats_left_of(world) == []
    assert bystander_intact(world) == []
