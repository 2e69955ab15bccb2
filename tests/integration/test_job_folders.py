"""A job's files lie in its own folder (`images/{job_id}/...`, `videos/{job_id}/...`): a delivery can
never make another job's files visible, whatever its job id (`images` and `videos` included)."""

import json
from typing import Any

import pytest

from completion_webhook.app import lambda_handler as webhook_handler
from generation_result.app import lambda_handler as result_handler
from mediagen.data.models import Generation
from tests.support import TokenMinter, http_api_event, response_json, webhook_event

pytestmark = pytest.mark.usefixtures("aws")

# Every folder name in use: the kinds' folders (a job's own folder is its id, tested as the victim's).
FOLDER_NAMES = ["images", "videos"]


def delivery(job_id: str, kind: str, path: str, user_id: str) -> dict[str, Any]:
    media = {
        "file_path": path,
        "size_bytes": 15_000,
        "format": "png" if kind == "image" else "mp4",
        "dimensions": "64x64",
    }
    if kind == "video":
        media["duration_seconds"] = 2
    return {
        "job_id": job_id,
        "user_id": user_id,
        "status": "completed",
        "data": {f"{kind}s": [media]},
    }


def deliver(payload: dict[str, Any], kind: str, context: Any) -> dict[str, Any]:
    response: dict[str, Any] = webhook_handler(webhook_event(payload, kind), context)
    return response


@pytest.mark.parametrize("kind", ["image", "video"])
@pytest.mark.parametrize("job_id", FOLDER_NAMES)
def test_a_delivery_cannot_list_another_jobs_file_whatever_its_job_id(
    kind: str, job_id: str, lambda_context: Any, tokens: TokenMinter
) -> None:
    # Given user_1's finished job, with its file in its own folder
    extension = "png" if kind == "image" else "mp4"
    victim_file = f"{kind}s/job_victim/0.{extension}"
    assert (
        deliver(delivery("job_victim", kind, victim_file, "user_1"), kind, lambda_context)["statusCode"]
        == 200
    )
    before = {job.job_id: job.serialize() for job in Generation.scan()}

    # When a delivery for job id `images` / `videos`, naming user_2, lists that file, or any key where
    # its id is a folder but not the job's own folder
    for path in (victim_file, f"{kind}s/job_victim/{job_id}/0.{extension}", f"{job_id}/0.{extension}"):
        response = deliver(delivery(job_id, kind, path, "user_2"), kind, lambda_context)

        # Then it is refused, and nothing is written
        assert response["statusCode"] == 422, (path, response["body"])
        assert "folder" in json.dumps(response_json(response))
    assert {job.job_id: job.serialize() for job in Generation.scan()} == before

    # And user_2 has no job that hands out the victim's file
    event = http_api_event(
        "GET", f"/api/{kind}s/{job_id}/result", headers={"authorization": f"Bearer {tokens.token('user_2')}"}
    )
    assert result_handler(event, lambda_context)["statusCode"] == 404


@pytest.mark.parametrize("kind", ["image", "video"])
@pytest.mark.parametrize("job_id", ["images", "videos"])
def test_a_job_named_like_a_folder_keeps_its_own_files(kind: str, job_id: str, lambda_context: Any) -> None:
    path = f"{kind}s/{job_id}/0.{'png' if kind == 'image' else 'mp4'}"
    response = deliver(delivery(job_id, kind, path, "user_1"), kind, lambda_context)
    assert response["statusCode"] == 200, response["body"]
    assert Generation.get(job_id).files[0].s3_key == path


def test_a_thumbnail_outside_the_job_folder_is_refused(lambda_context: Any) -> None:
    payload = delivery("job_clip", "video", "videos/job_clip/0.mp4", "user_1")
    payload["data"]["videos"][0]["thumbnail_path"] = "videos/job_victim/thumb.png"
    assert deliver(payload, "video", lambda_context)["statusCode"] == 422
    assert list(Generation.scan()) == []


def test_the_deployment_may_set_another_pattern(monkeypatch: pytest.MonkeyPatch, lambda_context: Any) -> None:
    from mediagen.core.settings import reset_settings

    monkeypatch.setenv("MEDIA_KEY_PATTERN", "media/{kind}/{job_id}/")
    reset_settings()
    assert (
        deliver(delivery("job_a", "image", "images/job_a/0.png", "user_1"), "image", lambda_context)[
            "statusCode"
        ]
        == 422
    )
    assert (
        deliver(delivery("job_a", "image", "media/image/job_a/0.png", "user_1"), "image", lambda_context)[
            "statusCode"
        ]
        == 200
    )


def test_a_video_file_without_its_duration_is_refused(lambda_context: Any) -> None:
    """The contract's video entries are the images' "plus duration_seconds" (the sender kit's drift test
    found the service accepting one without it, which the kit, rightly, never sends)."""
    payload = delivery("job_clip", "video", "videos/job_clip/0.mp4", "user_1")
    del payload["data"]["videos"][0]["duration_seconds"]
    response = deliver(payload, "video", lambda_context)
    assert response["statusCode"] == 422, response["body"]
    assert "duration_seconds is required" in response_json(response)["message"]
    assert list(Generation.scan()) == []
