"""The views of a job and of a notification, as the contract answers them: the status body, the result,
a library item, a notification. Pure functions of the stored items (result URLs are signed locally);
who may see what is mediagen.rules.access'.
"""

from typing import Any

from mediagen.contract.payloads import (
    ImageView,
    JobStatus,
    LibraryItem,
    NotificationMetadata,
    NotificationView,
    ResultView,
    Source,
    StatusView,
    VideoView,
)
from mediagen.core.errors import Conflict
from mediagen.data.jobs import SOURCE_BACKEND_DIRECT
from mediagen.data.models import Generation, Notification
from mediagen.outbound.media import signed_url
from mediagen.rules import retention

# The contract's names of the stored sources (POST .../generate stores "api"): what the library and
# the notifications answer.
SOURCE_NAMES: dict[str, Source] = {"api": "front-end", SOURCE_BACKEND_DIRECT: "backend-direct"}


def status_fields(generation: Generation) -> dict[str, Any]:
    """The status body's fields: `error` only when failed; the timings always (null until they
    happen); `expires_at` only while the deployment sets a retention period."""
    fields: dict[str, Any] = {
        "job_id": generation.job_id,
        "kind": generation.kind,
        "status": generation.status,
        "progress": int(generation.progress or 0),
        "created_at": generation.created_at,
        "updated_at": generation.updated_at,
        "dispatched_at": generation.dispatched_at,
        "finished_at": generation.completed_at,
    }
    if generation.status == JobStatus.FAILED:
        fields["error"] = generation.error or "failed"
    if retention.retention_set():
        fields["expires_at"] = retention.expires_at(generation)
    return fields


def status_view(generation: Generation) -> StatusView:
    """The fields set here are the ones answered; a field set to None is answered as null (a timing
    that has not happened, a result's prompt, model or description the backend did not give)."""
    return StatusView(**status_fields(generation))


def result_view(generation: Generation) -> ResultView:
    if generation.status != JobStatus.COMPLETED:
        raise Conflict(
            f"The job is {generation.status}; its result is served once it is completed.",
            code="not_completed",
            status=generation.status,
        )
    views: list[ImageView | VideoView] = []
    for index, stored in enumerate(generation.files or []):
        common = {
            "index": index,
            "url": signed_url(stored.s3_key),
            "width": int(stored.width),
            "height": int(stored.height),
            "format": stored.format,
            "size_bytes": int(stored.size_bytes),
            "description": stored.description,
        }
        if generation.kind == "video":
            thumbnail = signed_url(stored.thumbnail_key) if stored.thumbnail_key else None
            views.append(
                VideoView(
                    **common,
                    duration_seconds=stored.duration_seconds,
                    fps=stored.fps,
                    thumbnail_url=thumbnail,
                )
            )
        else:
            views.append(ImageView(**common))
    files_key = "videos" if generation.kind == "video" else "images"
    return ResultView(
        **status_view(generation).model_dump(exclude_unset=True),
        prompt=generation.prompt,
        model=generation.model,
        **{files_key: views},
    )


def library_item(job: Generation) -> LibraryItem:
    if job.author_id is None:
        # Both indexes hold only attributed jobs: a missing author is an index that does not project it,
        # never an answer to give ("None" was the organization index's, before it projected author_id).
        raise RuntimeError(f"library item {job.job_id} read without author_id: check the index projection")
    return LibraryItem(
        **status_fields(job),
        prompt=job.prompt,
        model=job.model,
        source=SOURCE_NAMES.get(str(job.source), "front-end"),
        author_id=job.author_id,
        organization_id=job.organization,
        preview_url=preview_url(job),
    )


def preview_url(job: Generation) -> str | None:
    """A completed job's first image, or its video's thumbnail (else the video), signed locally."""
    if job.status != JobStatus.COMPLETED or not job.files:
        return None
    first = job.files[0]
    return signed_url(first.thumbnail_key or first.s3_key)


def notification_view(item: Notification) -> NotificationView:
    return NotificationView(
        id=item.notification_id,
        type=item.type,
        title=item.title,
        message=item.message,
        read=bool(item.read),
        created_at=item.created_at,
        metadata=NotificationMetadata(
            generation_id=item.generation_id, source=SOURCE_NAMES.get(item.source, "front-end")
        ),
    )
