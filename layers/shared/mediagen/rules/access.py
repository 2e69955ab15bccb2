"""Who may see a generation, and the status and result views of it."""

from typing import Any

from mediagen.contract.caller import Caller
from mediagen.contract.payloads import (
    JOB_ID_PATTERN,
    ImageView,
    JobStatus,
    Kind,
    ResultView,
    StatusView,
    VideoView,
)
from mediagen.core.errors import Conflict, NotFound
from mediagen.core.settings import settings
from mediagen.data import generations
from mediagen.data.models import Generation
from mediagen.outbound.media import signed_url
from mediagen.rules import library


def can_see(caller: Caller, generation: Generation) -> bool:
    """The author, or a member of the generation's organization (active in the token). A job with no
    author is visible to nobody, organization or not: never a stranger."""
    if generation.author_id is None:
        return False
    if generation.author_id == caller.user_id:
        return True
    return caller.organization_id is not None and generation.organization == caller.organization_id


def visible_generation(caller: Caller, kind: Kind, job_id: str) -> Generation:
    """The generation, or the same 404 whether it does not exist or the caller may not see it."""
    if not JOB_ID_PATTERN.fullmatch(job_id):  # no such id can exist: same answer, no request
        raise NotFound(f"No {kind} generation {job_id[:64]}.")
    generation = generations.find(job_id)
    if generation is not None and generation.alias_of:
        # Another id of the job (the old backend's own, or a merged double entry): its job answers,
        # to its own author. One hop: an alias names a job, never another alias.
        generation = generations.find(generation.alias_of)
    if (
        generation is None
        or generation.kind != kind
        or generation.alias_of
        or not can_see(caller, generation)  # a tombstone (deleted job) has no author: nobody sees it
        or library.expired(generation)  # past the retention period: as deleted
    ):
        raise NotFound(f"No {kind} generation {job_id}.")
    return generation


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
    if settings().retention_days:
        fields["expires_at"] = library.expires_at(generation)
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
