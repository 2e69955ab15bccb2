"""The kit's payload models refuse what mediagen refuses, and what they make mediagen accepts (the
service's own models, mediagen.contract.payloads, are the judge)."""

from typing import Any

import pytest
from pydantic import ValidationError

from mediagen.contract.payloads import CompletionWebhook, s3_key_problem
from mediagen_sender import (
    CompletedEvent,
    Dispatch,
    FailedEvent,
    Image,
    ProcessingEvent,
    Video,
    completed,
    failed,
    processing,
)

CONTRACT_EXAMPLE: dict[str, Any] = {
    "job_id": "cmh3h35780001gg0lwosk26du",
    "user_id": "user_2abc",
    "organization_id": "org_2xyz",
    "status": "completed",
    "progress": 100,
    "data": {
        "original_prompt": "Un phare breton au coucher du soleil",
        "images": [
            {
                "file_path": "images/cmh3h35780001gg0lwosk26du/0.png",
                "url": "https://bucket.s3.amazonaws.com/images/cmh3h35780001gg0lwosk26du/0.png",
                "size_bytes": 1482013,
                "format": "png",
                "dimensions": "1024x1024",
                "description": "Un phare breton au coucher du soleil",
            }
        ],
        "metadata": {"model_name": "gemini-2.5-flash-image", "generation_time_seconds": 7.8},
    },
}


def accepted_by_the_service(event: ProcessingEvent | CompletedEvent | FailedEvent) -> CompletionWebhook:
    return CompletionWebhook.model_validate_json(event.to_json())


def test_the_contracts_example_reads_and_round_trips() -> None:
    event = CompletedEvent.model_validate(CONTRACT_EXAMPLE)
    assert accepted_by_the_service(event).model_dump(exclude_none=True) == CompletionWebhook.model_validate(
        CONTRACT_EXAMPLE
    ).model_dump(exclude_none=True)


def test_every_event_the_kit_makes_is_accepted_by_the_service() -> None:
    clip = Video(
        file_path="videos/v_1/0.mp4", size_bytes=10, format="mp4", dimensions="640x360", duration_seconds=2
    )
    events: list[ProcessingEvent | CompletedEvent | FailedEvent] = [
        processing("j_1", 0),
        processing("j_1", 100, user_id="user_1", organization_id="org_1"),
        completed("j_1", images=[Image(file_path="images/j_1/0.png", size_bytes=1, format="png",
                                       dimensions="1x1")], prompt="é 🌅"),
        completed("v_1", videos=[clip], model_name="m", generation_time_seconds=0),
        failed("j_1", "Le modèle a refusé le prompt"),
    ]  # fmt: skip
    for event in events:
        parsed = accepted_by_the_service(event)
        assert parsed.status == event.status and parsed.job_id == event.job_id
    assert accepted_by_the_service(events[-1]).error_message == "Le modèle a refusé le prompt"


@pytest.mark.parametrize(
    "path",
    ["/images/j_1/0.png", "images/j_2/0.png", "images/j_1/../j_2/0.png", "images//j_1/0.png",
     "images/j_1/0\n.png", "j_1.png", "images\\j_1\\0.png"],
)  # fmt: skip
def test_file_paths_outside_the_jobs_folder_are_refused_like_the_service_does(path: str) -> None:
    with pytest.raises(ValidationError):
        completed("j_1", images=[Image(file_path=path, size_bytes=1, format="png", dimensions="1x1")])
    # The service: its key rule with the default job folder (the webhook handler applies the
    # deployment's folder pattern, `images/{job_id}/` by default).
    assert s3_key_problem(path, "images/j_1/") is not None


@pytest.mark.parametrize(
    "build",
    [
        lambda: processing("j_1", 101),
        lambda: processing("j_1", -1),
        lambda: processing("not an id!", 10),
        lambda: failed("j_1", ""),
        lambda: completed("j_1"),  # no files
        lambda: Image(file_path="images/j_1/0.png", size_bytes=1, format="png", dimensions="0x10"),
        lambda: Image(file_path="images/j_1/0.png", size_bytes=1, format="mp4", dimensions="1x1"),
        lambda: Image(file_path="images/j_1/0.png", size_bytes=-1, format="png", dimensions="1x1"),
        lambda: Video(
            file_path="videos/j_1/0.mp4", size_bytes=1, format="png", dimensions="1x1", duration_seconds=1
        ),
        lambda: Image(file_path="images/j_1/0.png", size_bytes=1, format="png", dimensions="1x1", extra=1),  # type: ignore[call-arg]
    ],
)
def test_invalid_payloads_fail_before_anything_is_sent(build: Any) -> None:
    with pytest.raises(ValidationError):
        build()


def test_a_dispatch_from_the_service_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_API_URL", "https://api.example.com")
    from types import SimpleNamespace

    from mediagen.outbound.backend import dispatch_body

    job: Any = SimpleNamespace(
        job_id="j_1", author_id="user_1", organization=None, kind="video", prompt="p", model=None,
        num_images=1, size="640x360", duration_seconds=4,
    )  # fmt: skip
    dispatch = Dispatch.model_validate({**dispatch_body(job), "some_future_field": 1})
    assert dispatch.folder == "videos/j_1/"
    assert dispatch.webhook_url.endswith("/api/webhooks/video-completion")


def test_a_deployments_own_folder_is_the_one_keys_must_lie_in() -> None:
    """With MEDIA_KEY_PATTERN set, the dispatch names the job's folder: pass it as `folder`."""
    dispatch = Dispatch.model_validate(
        {"job_id": "j_1", "kind": "image", "webhook_url": "https://h/x", "output_prefix": "media/image/j_1/"}
    )

    def image(path: str) -> Image:
        return Image(file_path=path, size_bytes=1, format="png", dimensions="1x1")

    made = completed("j_1", images=[image("media/image/j_1/0.png")], folder=dispatch.folder)
    assert accepted_by_the_service(made).file_keys() == ["media/image/j_1/0.png"]
    with pytest.raises(ValidationError, match="inside the job's folder"):
        completed("j_1", images=[image("images/j_1/0.png")], folder=dispatch.folder)
    with pytest.raises(ValidationError, match=r"inside the job's folder \(images/j_1/\)"):
        completed("j_1", images=[image("media/image/j_1/0.png")])
