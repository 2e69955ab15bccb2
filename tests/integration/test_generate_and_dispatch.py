"""One job id end to end: generate, the dispatch to the backend, the backend's webhooks, status and
result, for images and videos; retries, races, backend failures and the old backend's own ids."""

import json
import os
from typing import Any

import boto3
import pytest

from completion_webhook.app import lambda_handler as webhook_handler
from generate.app import lambda_handler as generate_handler
from generation_result.app import lambda_handler as result_handler
from generation_status.app import lambda_handler as status_handler
from mediagen.data.models import Generation, Notification
from tests.support import http_api_event, response_json, webhook_event

pytestmark = pytest.mark.usefixtures("aws_server")


def post_generate(
    kind: str, body: dict[str, Any] | str, headers: dict[str, str], context: Any
) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    event = http_api_event(
        "POST", f"/api/{kind}s/generate", body=text, headers={"content-type": "application/json", **headers}
    )
    return generate_handler(event, context)


def queued_messages() -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = os.environ["DISPATCH_QUEUE_URL"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    count = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
    return [{"count": count}]


def jobs() -> list[Generation]:
    return [item for item in Generation.scan() if item.alias_of is None]


def backend_payload(request: dict[str, Any], *, status: str = "completed", files: int = 2) -> dict[str, Any]:
    """What the generation backend sends back for the job it was given."""
    kind = request["kind"]
    entries = []
    for index in range(files):
        entry: dict[str, Any] = {
            "file_path": f"{request['output_prefix']}{index}.{'png' if kind == 'image' else 'mp4'}",
            "url": "https://bucket.s3.amazonaws.com/ignored",
            "size_bytes": 1000 + index,
            "format": "png" if kind == "image" else "mp4",
            "dimensions": request["size"],
            "description": request["prompt"],
        }
        if kind == "video":
            entry.update(
                duration_seconds=request["duration_seconds"],
                fps=24,
                thumbnail_path=f"{request['output_prefix']}thumb.png",
            )
        entries.append(entry)
    return {
        "job_id": request["job_id"],
        "user_id": request["user_id"],
        "organization_id": request["organization_id"],
        "status": status,
        "data": {
            "original_prompt": request["prompt"],
            f"{kind}s": entries,
            "metadata": {"model_name": request["model"] or "default-model", "generation_time_seconds": 3.5},
        },
    }


@pytest.mark.parametrize("kind", ["image", "video"])
def test_generate_dispatch_webhook_status_result(
    kind: str, tokens: Any, lambda_context: Any, fake_backend: Any, run_dispatcher: Any, aws_requests: Any
) -> None:
    # Given a signed-in user of an organization
    headers = tokens.auth("user_a", org="org_1")
    prompt = "Création d'un phare 🎨"
    request: dict[str, Any] = {"prompt": prompt, "job_id": "cmh3h35780001gg0lwosk26du", "size": "1280x720"}
    if kind == "video":
        request["duration_seconds"] = 6
    else:
        request["num_images"] = 2

    # When the front end asks for a generation
    aws_requests.clear()
    response = post_generate(kind, request, headers, lambda_context)

    # Then the job is created with the client's id and queued for dispatch: 1 write (the job and its
    # place among the user's jobs in flight, in one transaction), 1 message
    assert response["statusCode"] == 202
    assert response_json(response) == {
        "job_id": "cmh3h35780001gg0lwosk26du",
        "status": "queued",
        "status_url": f"/api/{kind}s/cmh3h35780001gg0lwosk26du/status",
        "result_url": f"/api/{kind}s/cmh3h35780001gg0lwosk26du/result",
    }
    assert aws_requests.by_operation() == {"dynamodb.TransactWriteItems": 1, "sqs.SendMessage": 1}
    [job] = jobs()
    assert (job.author_id, job.organization_id, job.source, job.status) == (
        "user_a",
        "org_1",
        "api",
        "queued",
    )

    # When the dispatcher takes the message
    run_dispatcher()

    # Then the backend got the job with our id, the callback URL and the folder to write in
    [sent] = fake_backend.requests
    assert sent == {
        "job_id": "cmh3h35780001gg0lwosk26du",
        "user_id": "user_a",
        "organization_id": "org_1",
        "kind": kind,
        "prompt": prompt,
        "model": None,
        "num_images": 2 if kind == "image" else 1,
        "size": "1280x720",
        "duration_seconds": 6 if kind == "video" else None,
        "webhook_url": f"https://api.mediagen.test/api/webhooks/{kind}-completion",
        "output_prefix": f"{kind}s/cmh3h35780001gg0lwosk26du/",
    }
    assert fake_backend.headers[0]["authorization"] == "Bearer test-generator-key"
    assert Generation.get(sent["job_id"]).dispatched_at is not None

    # When the backend reports progress, then completion, by signed webhooks
    progress = {**backend_payload(sent), "status": "processing", "progress": 40}
    progress.pop("data")
    for payload in (progress, backend_payload(sent)):
        answer = webhook_handler(webhook_event(payload, kind=kind), lambda_context)
        assert answer["statusCode"] == 200, answer["body"]

    # Then status and result show the finished job, with signed URLs
    path = f"/api/{kind}s/{sent['job_id']}"
    status = response_json(
        status_handler(http_api_event("GET", f"{path}/status", headers=headers), lambda_context)
    )
    assert (status["status"], status["progress"], status["kind"]) == ("completed", 100, kind)
    result = response_json(
        result_handler(http_api_event("GET", f"{path}/result", headers=headers), lambda_context)
    )
    files = result[f"{kind}s"]
    assert len(files) == 2 and result["prompt"] == prompt
    assert all("X-Amz-Signature=" in item["url"] for item in files)
    if kind == "video":
        assert files[0]["duration_seconds"] == 6 and files[0]["fps"] == 24
        assert "X-Amz-Signature=" in files[0]["thumbnail_url"]
    [notification] = list(Notification.scan())
    assert notification.type == f"{kind.upper()}_COMPLETED"
    assert len(jobs()) == 1


def test_client_retrying_generate_gets_the_same_job_and_one_dispatch(
    tokens: Any, lambda_context: Any, fake_backend: Any, run_dispatcher: Any
) -> None:
    headers = tokens.auth("user_a")
    body = {"prompt": "Un phare", "job_id": "job_retry"}

    first = post_generate("image", body, headers, lambda_context)
    second = post_generate("image", body, headers, lambda_context)
    run_dispatcher(max_rounds=3)
    third = post_generate("image", body, headers, lambda_context)
    run_dispatcher(max_rounds=3)

    assert (first["statusCode"], second["statusCode"], third["statusCode"]) == (202, 200, 200)
    assert response_json(first)["job_id"] == response_json(second)["job_id"] == "job_retry"
    assert len(jobs()) == 1
    assert [r["job_id"] for r in fake_backend.requests] == ["job_retry"]


def test_job_id_of_another_user_is_409_and_reveals_nothing(tokens: Any, lambda_context: Any) -> None:
    post_generate(
        "image", {"prompt": "Secret plans", "job_id": "job_taken"}, tokens.auth("user_a"), lambda_context
    )

    response = post_generate(
        "image", {"prompt": "Mine", "job_id": "job_taken"}, tokens.auth("user_b"), lambda_context
    )

    assert response["statusCode"] == 409
    body = response_json(response)
    assert body["code"] == "job_id_taken"
    assert (
        "Secret" not in response["body"]
        and "user_a" not in response["body"]
        and "queued" not in body["message"]
    )
    assert Generation.get("job_taken").prompt == "Secret plans"


def test_backend_failing_three_times_fails_the_job_and_notifies_once(
    tokens: Any, lambda_context: Any, fake_backend: Any, run_dispatcher: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a backend that answers 503 to every attempt (and no backoff delay, to keep the test fast)
    monkeypatch.setenv("DISPATCH_BACKOFF_SECONDS", "0")
    fake_backend.answers = [(503, {"error": "overloaded"})] * 5
    post_generate(
        "image", {"prompt": "Un phare", "job_id": "job_down"}, tokens.auth("user_a"), lambda_context
    )

    # When the queue delivers the message until the dispatcher is done with it
    answers = run_dispatcher(max_rounds=6)

    # Then three attempts were made, the first two reported as batch failures to retry
    assert len(fake_backend.requests) == 3
    assert [len(a["batchItemFailures"]) for a in answers] == [1, 1, 0]
    job = Generation.get("job_down")
    assert job.status == "failed" and "unavailable after 3 attempts" in job.error
    [notification] = list(Notification.scan())
    assert (notification.type, notification.user_id) == ("IMAGE_FAILED", "user_a")


def test_backend_refusing_the_job_fails_it_at_once(
    tokens: Any, lambda_context: Any, fake_backend: Any, run_dispatcher: Any
) -> None:
    fake_backend.answers = [(400, {"error": "prompt refused"})]
    post_generate(
        "image", {"prompt": "Un phare", "job_id": "job_refused"}, tokens.auth("user_a"), lambda_context
    )
    run_dispatcher(max_rounds=2)
    assert len(fake_backend.requests) == 1
    assert Generation.get("job_refused").status == "failed"
    assert len(list(Notification.scan())) == 1


def test_old_backend_answering_with_its_own_id(
    tokens: Any, lambda_context: Any, fake_backend: Any, run_dispatcher: Any
) -> None:
    # Given the old backend, which ignores our id and answers with its own
    backend_id = "c76c36ee-838d-4ecb-94ed-37018032c9fd"
    fake_backend.answers = [(200, {"job_id": backend_id, "status": "accepted"})]
    post_generate(
        "image",
        {"prompt": "Un phare", "job_id": "cmh3h35780001gg0lwosk26du"},
        tokens.auth("user_a"),
        lambda_context,
    )
    run_dispatcher()

    # When its webhook arrives with its own id and the old payload (no user, no prompt)
    payload = {
        "job_id": backend_id,
        "status": "completed",
        "data": {
            "images": [
                {
                    "file_path": f"images/{backend_id}/0.png",
                    "url": f"https://bucket.s3.amazonaws.com/images/{backend_id}/0.png",
                    "size_bytes": 1482013,
                    "format": "png",
                    "dimensions": "1024x1024",
                    "description": "Un phare breton au coucher du soleil",
                }
            ],
            "metadata": {"model_name": "gemini-2.5-flash-image", "generation_time_seconds": 7.8},
        },
    }
    for _ in range(2):
        assert webhook_handler(webhook_event(payload), lambda_context)["statusCode"] == 200

    # Then it lands on our job: one record, completed, the right author, one notification
    [job] = jobs()
    assert (job.job_id, job.status, job.author_id, job.backend_job_id) == (
        "cmh3h35780001gg0lwosk26du",
        "completed",
        "user_a",
        backend_id,
    )
    assert job.files[0].s3_key == f"images/{backend_id}/0.png"
    [notification] = list(Notification.scan())
    assert (notification.user_id, notification.generation_id) == ("user_a", job.job_id)
    alias_view = status_handler(
        http_api_event("GET", f"/api/images/{backend_id}/status", headers=tokens.auth("user_a")),
        lambda_context,
    )
    # The backend's id answers our job, to its author only (contract: an alias answers its job)
    assert alias_view["statusCode"] == 200
    assert json.loads(alias_view["body"])["job_id"] == "cmh3h35780001gg0lwosk26du"
    stranger = status_handler(
        http_api_event("GET", f"/api/images/{backend_id}/status", headers=tokens.auth("user_b")),
        lambda_context,
    )
    assert stranger["statusCode"] == 404


def test_generate_budget_is_one_write_and_one_message(
    tokens: Any, lambda_context: Any, aws_requests: Any
) -> None:
    headers = tokens.auth("user_a")
    post_generate("image", {"prompt": "Un phare", "job_id": "job_b"}, headers, lambda_context)
    aws_requests.clear()
    post_generate("image", {"prompt": "Un phare", "job_id": "job_b"}, headers, lambda_context)
    assert aws_requests.by_operation()["dynamodb.TransactWriteItems"] == 1
    assert aws_requests.count("dynamodb") == 1


def test_dispatcher_does_not_start_a_job_it_has_no_time_to_finish(
    tokens: Any, lambda_context: Any, fake_backend: Any
) -> None:
    # Given a queued job, and an invocation with less time left than one backend call may take
    from dispatch.app import lambda_handler as dispatch_handler

    post_generate(
        "image", {"prompt": "Un phare", "job_id": "job_late"}, tokens.auth("user_a"), lambda_context
    )
    sqs = boto3.client("sqs")
    url = os.environ["DISPATCH_QUEUE_URL"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    from tests.support import sqs_event

    lambda_context.get_remaining_time_in_millis = lambda: 5_000

    # When the dispatcher gets the message
    answer = dispatch_handler(sqs_event(messages, arn), lambda_context)

    # Then it hands the message back untried: no backend call, no attempt counted
    assert answer == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    assert fake_backend.requests == []
    assert Generation.get("job_late").dispatch_attempts is None
