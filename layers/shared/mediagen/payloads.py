"""Pydantic models of every payload we accept or answer (the contract's bodies)."""

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator, model_validator

Kind = Literal["image", "video"]
JobStatus = Literal["queued", "processing", "completed", "failed", "canceled"]
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "canceled"})

MAX_FILES = 16
MAX_PROMPT = 4000
IMAGE_FORMATS = frozenset({"png", "jpeg", "jpg", "webp"})
VIDEO_FORMATS = frozenset({"mp4", "webm"})

JobId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
PrincipalId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
Number = StrictInt | StrictFloat
_DIMENSIONS = re.compile(r"^([1-9][0-9]{0,5})x([1-9][0-9]{0,5})$")


def _has_control_chars(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


class _Payload(BaseModel):
    # Unknown fields are ignored so the backend can add fields without breaking deliveries.
    model_config = ConfigDict(extra="ignore", frozen=True)


class MediaFile(_Payload):
    file_path: str = Field(min_length=1, max_length=1024)
    url: str | None = Field(default=None, max_length=4096)
    size_bytes: StrictInt = Field(ge=0, le=50 * 1024**3)
    format: str = Field(min_length=1, max_length=10)
    dimensions: str = Field(max_length=13)
    description: str | None = Field(default=None, max_length=MAX_PROMPT)
    duration_seconds: Number | None = Field(default=None, gt=0, le=24 * 3600)
    fps: Number | None = Field(default=None, gt=0, le=1000)
    thumbnail_path: str | None = Field(default=None, min_length=1, max_length=1024)

    @field_validator("format")
    @classmethod
    def _lower_format(cls, value: str) -> str:
        return value.lower()

    @field_validator("dimensions")
    @classmethod
    def _check_dimensions(cls, value: str) -> str:
        if not _DIMENSIONS.match(value):
            raise ValueError("dimensions must be WIDTHxHEIGHT with positive integers, e.g. 1024x1024")
        return value

    @property
    def width(self) -> int:
        return int(self.dimensions.split("x")[0])

    @property
    def height(self) -> int:
        return int(self.dimensions.split("x")[1])


class ErrorDetail(_Payload):
    message: str = Field(min_length=1, max_length=2000)


class GenerationMetadata(_Payload):
    model_name: str | None = Field(default=None, min_length=1, max_length=200)
    generation_time_seconds: Number | None = Field(default=None, ge=0, le=7 * 24 * 3600)


class CompletionData(_Payload):
    original_prompt: str | None = Field(default=None, min_length=1, max_length=MAX_PROMPT)
    images: list[MediaFile] | None = Field(default=None, max_length=MAX_FILES)
    videos: list[MediaFile] | None = Field(default=None, max_length=MAX_FILES)
    metadata: GenerationMetadata | None = None


class CompletionWebhook(_Payload):
    """The generation backend's completion webhook, old payload (no user_id, no prompt) included."""

    job_id: JobId
    user_id: PrincipalId | None = None
    organization_id: PrincipalId | None = None
    status: Literal["processing", "completed", "failed"]
    progress: StrictInt | None = Field(default=None, ge=0, le=100)
    data: CompletionData | None = None
    error: Annotated[str, Field(min_length=1, max_length=2000)] | ErrorDetail | None = None

    @model_validator(mode="after")
    def _check_paths(self) -> "CompletionWebhook":
        """Every file lies inside the job's folder in the media bucket: no traversal, no absolute path."""
        files = [*(self.data.images or []), *(self.data.videos or [])] if self.data else []
        for media in files:
            for path in filter(None, (media.file_path, media.thumbnail_path)):
                problem = s3_key_problem(path, self.job_id)
                if problem:
                    raise ValueError(f"file_path {path[:100]!r}: {problem}")
        return self

    @property
    def error_message(self) -> str | None:
        if isinstance(self.error, ErrorDetail):
            return self.error.message
        return self.error


def s3_key_problem(path: str, job_id: str) -> str | None:
    """Why `path` is not an acceptable S3 key for `job_id`'s files, or None when it is."""
    if _has_control_chars(path):
        return "contains control characters"
    if path.startswith("/") or "\\" in path:
        return "must be a relative key with forward slashes"
    segments = path.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        return "must not contain empty, '.' or '..' segments"
    if job_id not in segments[:-1]:
        return f"must lie inside a folder named after the job ({job_id})"
    return None


# --- Answers -------------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str
    message: str


class WebhookAnswer(BaseModel):
    job_id: str
    outcome: Literal["created", "updated", "duplicate", "stale"]


class StatusView(BaseModel):
    job_id: str
    kind: Kind
    status: JobStatus
    progress: int
    created_at: datetime
    updated_at: datetime
    error: str | None = None


class ImageView(BaseModel):
    index: int
    url: str
    width: int
    height: int
    format: str
    size_bytes: int
    description: str | None = None


class VideoView(ImageView):
    duration_seconds: float | None = None
    fps: float | None = None
    thumbnail_url: str | None = None


class ResultView(StatusView):
    prompt: str | None = None
    model: str | None = None
    images: list[ImageView] | None = None
    videos: list[VideoView] | None = None
