"""The completion webhook's payloads (the contract's "Completion webhook body") and the dispatched job.

The models check what mediagen checks, so a payload it would refuse with a 422 fails here, before
anything is sent: job ids `[A-Za-z0-9_-]{1,64}`, file paths inside the job's own folder (relative, no
`.`/`..`/empty segments, no control characters), `WIDTHxHEIGHT` dimensions, image formats for images
and `mp4`/`webm` for videos, at most 16 files, progress 0-100.
"""

import unicodedata
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_FILES = 16
MAX_TEXT = 4000
IMAGE_FORMATS = frozenset({"png", "jpeg", "jpg", "webp"})
VIDEO_FORMATS = frozenset({"mp4", "webm"})

JobId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
PrincipalId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
Dimensions = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,5}x[1-9][0-9]{0,5}$", examples=["1024x1024"])]
Number = Annotated[float, Field(allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MediaFile(_Model):
    """One file written to the media bucket. `file_path` is its S3 key, inside the job's folder."""

    file_path: str = Field(min_length=1, max_length=1024, examples=["images/job_1/0.png"])
    size_bytes: int = Field(ge=0, le=50 * 1024**3)
    format: str = Field(min_length=1, max_length=10)
    dimensions: Dimensions
    url: str | None = Field(default=None, max_length=4096)
    description: str | None = Field(default=None, max_length=MAX_TEXT)


class Image(MediaFile):
    @model_validator(mode="after")
    def _image_format(self) -> "Image":
        if self.format.lower() not in IMAGE_FORMATS:
            raise ValueError(f"an image's format is one of {sorted(IMAGE_FORMATS)}, not {self.format!r}")
        return self


class Video(MediaFile):
    duration_seconds: Number = Field(gt=0, le=24 * 3600)
    fps: Number | None = Field(default=None, gt=0, le=1000)
    thumbnail_path: str | None = Field(default=None, min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _video_format(self) -> "Video":
        if self.format.lower() not in VIDEO_FORMATS:
            raise ValueError(f"a video's format is one of {sorted(VIDEO_FORMATS)}, not {self.format!r}")
        return self


class Metadata(_Model):
    model_name: str | None = Field(default=None, min_length=1, max_length=200)
    generation_time_seconds: Number | None = Field(default=None, ge=0, le=7 * 24 * 3600)


class CompletionData(_Model):
    original_prompt: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT)
    images: list[Image] | None = Field(default=None, min_length=1, max_length=MAX_FILES)
    videos: list[Video] | None = Field(default=None, min_length=1, max_length=MAX_FILES)
    metadata: Metadata | None = None


class ErrorDetail(_Model):
    message: str = Field(min_length=1, max_length=2000)


class _Event(_Model):
    job_id: JobId
    user_id: PrincipalId | None = None
    organization_id: PrincipalId | None = None

    def to_json(self) -> str:
        """The body as sent: absent optional fields left out, text kept as UTF-8 (accents, emoji)."""
        return self.model_dump_json(exclude_none=True)

    @property
    def kind(self) -> Literal["image", "video"] | None:
        return None


class ProcessingEvent(_Event):
    status: Literal["processing"] = "processing"
    progress: int = Field(ge=0, le=100)


class CompletedEvent(_Event):
    status: Literal["completed"] = "completed"
    progress: Literal[100] = 100
    data: CompletionData

    @model_validator(mode="after")
    def _files_inside_the_job_folder(self) -> "CompletedEvent":
        if bool(self.data.images) == bool(self.data.videos):
            raise ValueError("a completion lists its files under data.images or data.videos (one of them)")
        for media in [*(self.data.images or []), *(self.data.videos or [])]:
            for path in (media.file_path, getattr(media, "thumbnail_path", None)):
                problem = s3_key_problem(path, self.job_id) if path else None
                if problem:
                    raise ValueError(f"file_path {path!r}: {problem}")
        return self

    @property
    def kind(self) -> Literal["image", "video"]:
        return "image" if self.data.images else "video"


class FailedEvent(_Event):
    status: Literal["failed"] = "failed"
    error: ErrorDetail


CompletionEvent = ProcessingEvent | CompletedEvent | FailedEvent


def s3_key_problem(path: str, job_id: str) -> str | None:
    """Why mediagen would refuse `path` as one of `job_id`'s files, or None."""
    if any(unicodedata.category(ch) == "Cc" for ch in path):
        return "contains control characters"
    if path.startswith("/") or "\\" in path:
        return "must be a relative key with forward slashes"
    segments = path.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        return "must not contain empty, '.' or '..' segments"
    if job_id not in segments[:-1]:
        return f"must lie inside a folder named after the job ({job_id})"
    return None


# --- Constructors: the three events a backend sends for one job ---------------------------------


def processing(
    job_id: str, progress: int, *, user_id: str | None = None, organization_id: str | None = None
) -> ProcessingEvent:
    """`processing` with a progress of 0-100 (progress never goes down at mediagen)."""
    return ProcessingEvent(job_id=job_id, progress=progress, user_id=user_id, organization_id=organization_id)


def completed(
    job_id: str,
    *,
    images: list[Image] | None = None,
    videos: list[Video] | None = None,
    prompt: str | None = None,
    model_name: str | None = None,
    generation_time_seconds: float | None = None,
    user_id: str | None = None,
    organization_id: str | None = None,
) -> CompletedEvent:
    """`completed` with the files of an image job (`images`) or of a video job (`videos`)."""
    metadata = (
        Metadata(model_name=model_name, generation_time_seconds=generation_time_seconds)
        if model_name is not None or generation_time_seconds is not None
        else None
    )
    data = CompletionData(original_prompt=prompt, images=images, videos=videos, metadata=metadata)
    return CompletedEvent(job_id=job_id, user_id=user_id, organization_id=organization_id, data=data)


def failed(
    job_id: str, message: str, *, user_id: str | None = None, organization_id: str | None = None
) -> FailedEvent:
    """`failed` with the message the user will read in their notification."""
    error = ErrorDetail(message=message[:2000])
    return FailedEvent(job_id=job_id, error=error, user_id=user_id, organization_id=organization_id)


class Dispatch(BaseModel):
    """The job mediagen POSTs to the backend (`Authorization: Bearer <key>`, `Idempotency-Key: job_id`).

    Unknown fields are ignored: the service may add some.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    job_id: JobId
    kind: Literal["image", "video"]
    webhook_url: str = Field(pattern=r"^https?://")
    user_id: str | None = None
    organization_id: str | None = None
    prompt: str | None = None
    model: str | None = None
    num_images: int = Field(default=1, ge=1, le=16)
    size: str | None = None
    duration_seconds: int | None = None
    output_prefix: str | None = None

    @property
    def folder(self) -> str:
        """Where this job's files go in the media bucket (`images/<job_id>/` unless told otherwise)."""
        return self.output_prefix or f"{self.kind}s/{self.job_id}/"
