"""POST /api/webhooks/image-completion against moto: create on missing, attribution, forward-only
status, files once, one notification, request budgets."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from completion_webhook.app import lambda_handler
from mediagen.data.models import Generation, Notification
from tests.support import completion_payload, response_json, webhook_event

pytestmark = pytest.mark.usefixtures("aws_server")


def deliver(payload: dict[str, Any] | str, context: Any, **options: Any) -> dict[str, Any]:
    return lambda_handler(webhook_event(payload, **options), context)


def generation(job_id: str) -> Generation:
    return Generation.get(job_id, consistent_read=True)


def notifications() -> list[Notification]:
    return list(Notification.scan())


def test_old_payload_for_unknown_job_is_stored_unattributed(lambda_context: Any) -> None:
    # Given the backend's payload as sent today: no user_id, no original_prompt
    payload = completion_payload("c76c36ee-838d-4ecb-94ed-37018032c9fd")

    # When it is delivered for a job we have no record of
    response = deliver(payload, lambda_context)

    # Then the job is created once, attributed to nobody, and nobody is notified
    assert response["statusCode"] == 200
    assert response_json(response) == {"job_id": payload["job_id"], "outcome": "created"}
    job = generation(payload["job_id"])
    assert job.author_id is None
    assert job.source == "backend-direct"
    assert job.status == "completed" and job.progress == 100
    assert len(job.files) == 4
    assert notifications() == []


def test_unknown_job_with_user_is_created_for_that_user(lambda_context: Any) -> None:
    payload = completion_payload("job_new_1", user_id="user_a", organization_id="org_1", prompt="Un phare")

    response = deliver(payload, lambda_context)

    assert response_json(response)["outcome"] == "created"
    job = generation("job_new_1")
    assert (job.author_id, job.organization_id, job.source) == ("user_a", "org_1", "backend-direct")
    assert job.prompt == "Un phare"
    assert job.model == "gemini-2.5-flash-image"
    assert job.num_images == 4 and job.size == "1024x1024"
    stored = job.files[0]
    assert (stored.s3_key, stored.file_name, stored.format) == ("images/job_new_1/0.png", "0.png", "png")
    assert (stored.width, stored.height, stored.aspect_ratio, stored.size_bytes) == (
        1024,
        1024,
        "1024x1024",
        1482013,
    )
    assert stored.generation_time_seconds == 7.8
    [notification] = notifications()
    assert notification.user_id == "user_a"
    assert notification.type == "IMAGE_COMPLETED"
    assert (notification.generation_id, notification.source) == ("job_new_1", "backend-direct")


def test_prompt_comes_back_byte_for_byte(lambda_context: Any) -> None:
    prompt = "Création d'un phare 🎨"
    deliver(completion_payload("job_utf8", user_id="user_a", prompt=prompt), lambda_context)
    assert generation("job_utf8").prompt.encode() == prompt.encode()
    assert generation("job_utf8").files[0].description == prompt


def test_repeated_delivery_is_a_duplicate_and_changes_nothing(lambda_context: Any) -> None:
    payload = completion_payload("job_dup", user_id="user_a")
    deliver(payload, lambda_context, webhook_id="msg_same")
    before = generation("job_dup").serialize()

    response = deliver(payload, lambda_context, webhook_id="msg_same")

    assert response["statusCode"] == 200
    assert response_json(response)["outcome"] == "duplicate"
    assert generation("job_dup").serialize() == before
    assert len(notifications()) == 1


@pytest.mark.parametrize(
    ("first", "second", "expected_status", "expected_progress"),
    [
        ({"status": "completed"}, {"status": "processing", "progress": 50}, "completed", 100),
        ({"status": "failed", "error": "boom"}, {"status": "completed"}, "failed", 0),
        (
            {"status": "processing", "progress": 60},
            {"status": "processing", "progress": 40},
            "processing",
            60,
        ),
        ({"status": "completed"}, {"status": "failed", "error": {"message": "late"}}, "completed", 100),
    ],
)
def test_status_only_moves_forward(
    lambda_context: Any, first: dict, second: dict, expected_status: str, expected_progress: int
) -> None:
    job_id = "job_forward"
    deliver(completion_payload(job_id, user_id="user_a", **first), lambda_context)
    before = generation(job_id).serialize()

    response = deliver(completion_payload(job_id, user_id="user_a", **second), lambda_context)

    assert response["statusCode"] == 200
    assert response_json(response)["outcome"] == "stale"
    job = generation(job_id)
    assert (job.status, job.progress) == (expected_status, expected_progress)
    assert job.serialize() == before
    assert len(notifications()) == (0 if expected_status == "processing" else 1)


def test_progress_rises_then_completes(lambda_context: Any) -> None:
    for progress in (10, 40, 80):
        response = deliver(
            completion_payload("job_rise", status="processing", progress=progress), lambda_context
        )
        assert response_json(response)["outcome"] == ("created" if progress == 10 else "updated")
        assert generation("job_rise").progress == progress
    assert response_json(deliver(completion_payload("job_rise"), lambda_context))["outcome"] == "updated"
    assert generation("job_rise").status == "completed"


def test_failed_job_keeps_its_error_and_notifies_once(lambda_context: Any) -> None:
    payload = completion_payload(
        "job_fail", status="failed", user_id="user_a", error={"message": "GPU on fire"}
    )
    deliver(payload, lambda_context)
    deliver(payload, lambda_context)
    job = generation("job_fail")
    assert (job.status, job.error) == ("failed", "GPU on fire")
    [notification] = notifications()
    assert (notification.type, notification.message) == ("IMAGE_FAILED", "GPU on fire")


def test_webhook_naming_another_user_is_refused_and_changes_nothing(lambda_context: Any) -> None:
    # Given a job of user A, still processing
    deliver(completion_payload("job_a", status="processing", progress=10, user_id="user_a"), lambda_context)
    before = generation("job_a").serialize()

    # When a completion names user B
    response = deliver(completion_payload("job_a", user_id="user_b"), lambda_context)

    # Then it is refused and the job is unchanged
    assert response["statusCode"] == 409
    assert response_json(response)["code"] == "job_owned_by_another_user"
    assert generation("job_a").serialize() == before
    assert notifications() == []


def test_unattributed_job_is_claimed_by_the_first_named_user(lambda_context: Any) -> None:
    deliver(completion_payload("job_claim", status="processing", progress=5), lambda_context)
    deliver(completion_payload("job_claim", user_id="user_a"), lambda_context)
    assert generation("job_claim").author_id == "user_a"
    [notification] = notifications()
    assert notification.user_id == "user_a"


def test_notification_is_created_by_the_retry_when_the_first_delivery_died(
    lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a delivery that wrote the job and then died before the notification
    from mediagen.rules import completion_webhook as completion

    payload = completion_payload("job_crash", user_id="user_a")

    def die(*_: Any) -> bool:
        raise TimeoutError("the function was killed")

    with monkeypatch.context() as patch:
        patch.setattr(completion, "notify_once", die)
        with pytest.raises(TimeoutError):
            completion.apply_completion("image", completion.CompletionWebhook.model_validate(payload))
    assert generation("job_crash").status == "completed"
    assert notifications() == []

    # When the backend retries the same webhook
    response = deliver(payload, lambda_context)

    # Then the retry is a duplicate for the job, and the notification exists exactly once
    assert response_json(response)["outcome"] == "duplicate"
    [notification] = notifications()
    assert notification.created_at == generation("job_crash").completed_at
    assert notification.message == "4 image(s) créée(s)."  # counted from the item the write returned
    deliver(payload, lambda_context)
    assert len(notifications()) == 1


def test_image_webhook_does_not_touch_a_video_job(lambda_context: Any) -> None:
    now = datetime.now(UTC)
    Generation(
        job_id="job_video",
        kind="video",
        author_id="user_a",
        status="queued",
        source="api",
        created_at=now,
        updated_at=now,
    ).save()
    response = deliver(completion_payload("job_video", user_id="user_a"), lambda_context)
    assert response["statusCode"] == 409
    assert response_json(response)["message"] == "This job is not an image job."
    assert generation("job_video").status == "queued"


@pytest.mark.parametrize("outcome_case", ["created", "duplicate", "stale", "refused"])
def test_webhook_budget_is_two_dynamodb_requests_and_no_read(
    lambda_context: Any, aws_requests: Any, outcome_case: str
) -> None:
    job_id = "job_budget"
    if outcome_case != "created":
        deliver(completion_payload(job_id, user_id="user_a"), lambda_context)
    second = {
        "created": completion_payload(job_id, user_id="user_a"),
        "duplicate": completion_payload(job_id, user_id="user_a"),
        "stale": completion_payload(job_id, status="processing", progress=10, user_id="user_a"),
        "refused": completion_payload(job_id, user_id="user_b"),
    }[outcome_case]
    aws_requests.clear()

    deliver(second, lambda_context)

    operations = aws_requests.by_operation()
    assert not any(op.startswith(("dynamodb.Get", "dynamodb.Query", "dynamodb.Scan")) for op in operations)
    assert operations["dynamodb.UpdateItem"] == 1
    if outcome_case == "created":
        # A create on missing is one request more: the job's UpdateItem finds no job, then the create,
        # in a transaction that checks the id was not an erased person's (its record holds no plain id)
        assert operations == {"dynamodb.UpdateItem": 1, "dynamodb.TransactWriteItems": 2}, operations
    else:
        assert aws_requests.count("dynamodb") <= 2, operations


def test_stale_timestamp_is_rejected(lambda_context: Any, aws_requests: Any) -> None:
    old = datetime.now(UTC) - timedelta(seconds=301)
    response = deliver(completion_payload("job_old", user_id="user_a"), lambda_context, timestamp=old)
    assert response["statusCode"] == 401
    assert aws_requests.count("dynamodb") == 0
    assert json.loads(response["body"])["code"] == "invalid_signature"
