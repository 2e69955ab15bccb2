"""Pydantic models of every payload we accept or answer (the contract's bodies)."""

import unicodedata
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator, model_validator

# The rules the kits share are defined once, in shared_rules (the sender kit carries a copy of it).
from mediagen.core.shared_rules import (
    JOB_ID_PATTERN,
    MAX_DIMENSIONS,
    MAX_DURATION_SECONDS,
    MAX_ERROR_MESSAGE,
    MAX_FILES,
    MAX_FORMAT,
    MAX_FPS,
    MAX_GENERATION_TIME_SECONDS,
    MAX_KEY,
    MAX_MODEL_NAME,
    MAX_NUM_IMAGES,
    MAX_PROGRESS,
    MAX_PROMPT,
    MAX_REQUEST_DURATION_SECONDS,
    MAX_SIZE,
    MAX_SIZE_BYTES,
    MAX_URL,
    PRINCIPAL_ID_PATTERN,
    ImageFormat,
    VideoFormat,
    dimensions_problem,
    s3_key_problem,
    size_problem,
)

Kind = Literal["image", "video"]


class JobStatus(StrEnum):
    """A job's state: queued, processing, then one final state. It only moves forward."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


IN_FLIGHT_STATUSES = (JobStatus.QUEUED, JobStatus.PROCESSING)
FINAL_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)
NOTIFIED_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED)  # one notification per finished job
DeliveryStatus = Literal[JobStatus.PROCESSING, JobStatus.COMPLETED, JobStatus.FAILED]

JobId = Annotated[str, Field(pattern=JOB_ID_PATTERN.pattern)]
PrincipalId = Annotated[str, Field(pattern=PRINCIPAL_ID_PATTERN.pattern)]
Number = StrictInt | StrictFloat


class _Model(BaseModel):
    # Each function validates a few of these models: build a model's validator on its first use, not
    # at import, so a cold start pays only for the models its function uses.
    model_config = ConfigDict(defer_build=True)


class _Payload(_Model):
    # Unknown fields are ignored so the backend can add fields without breaking deliveries.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class MediaFile(_Payload):
    file_path: str = Field(min_length=1, max_length=MAX_KEY)
    url: str | None = Field(default=None, max_length=MAX_URL)
    size_bytes: StrictInt = Field(ge=0, le=MAX_SIZE_BYTES)
    format: str = Field(min_length=1, max_length=MAX_FORMAT)
    dimensions: str = Field(max_length=MAX_DIMENSIONS)
    description: str | None = Field(default=None, max_length=MAX_PROMPT)
    duration_seconds: Number | None = Field(default=None, gt=0, le=MAX_DURATION_SECONDS)
    fps: Number | None = Field(default=None, gt=0, le=MAX_FPS)
    thumbnail_path: str | None = Field(default=None, min_length=1, max_length=MAX_KEY)

    @field_validator("format")
    @classmethod
    def _lower_format(cls, value: str) -> str:
        return value.lower()

    @field_validator("dimensions")
    @classmethod
    def _check_dimensions(cls, value: str) -> str:
        problem = dimensions_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @property
    def width(self) -> int:
        return int(self.dimensions.split("x")[0])

    @property
    def height(self) -> int:
        return int(self.dimensions.split("x")[1])


class ErrorDetail(_Payload):
    message: str = Field(min_length=1, max_length=MAX_ERROR_MESSAGE)


class GenerationMetadata(_Payload):
    model_name: str | None = Field(default=None, min_length=1, max_length=MAX_MODEL_NAME)
    generation_time_seconds: Number | None = Field(default=None, ge=0, le=MAX_GENERATION_TIME_SECONDS)


class CompletionData(_Payload):
    original_prompt: str | None = Field(default=None, min_length=1, max_length=MAX_PROMPT)
    images: list[MediaFile] | None = Field(default=None, max_length=MAX_FILES)
    videos: list[MediaFile] | None = Field(default=None, max_length=MAX_FILES)
    metadata: GenerationMetadata | None = None


def file_keys(files: Iterable[tuple[str | None, str | None]]) -> list[str]:
    """Every S3 key of a job's files, each file's (key, thumbnail key) in order, without the missing
    thumbnails: the one listing of a job's keys, a delivery's (CompletionWebhook.file_keys) and a stored
    job's (mediagen.rules.job_files.job_file_keys)."""
    return [key for pair in files for key in pair if key]


class CompletionWebhook(_Payload):
    """The generation backend's completion webhook, old payload (no user_id, no prompt) included."""

    job_id: JobId
    user_id: PrincipalId | None = None
    organization_id: PrincipalId | None = None
    status: DeliveryStatus
    progress: StrictInt | None = Field(default=None, ge=0, le=MAX_PROGRESS)
    data: CompletionData | None = None
    error: Annotated[str, Field(min_length=1, max_length=MAX_ERROR_MESSAGE)] | ErrorDetail | None = None

    @model_validator(mode="after")
    def _check_paths(self) -> "CompletionWebhook":
        """Every key is a plain relative key: no traversal, no absolute path. Which folder it must lie
        in depends on the route's kind and the deployment's pattern: see `key_problems`."""
        for path in self.file_keys():
            problem = s3_key_problem(path)
            if problem:
                raise ValueError(f"file_path {path[:100]!r}: {problem}")
        return self

    def file_keys(self) -> list[str]:
        """Every S3 key the delivery names (files and thumbnails)."""
        files = [*(self.data.images or []), *(self.data.videos or [])] if self.data else []
        return file_keys((media.file_path, media.thumbnail_path) for media in files)

    @property
    def error_message(self) -> str | None:
        if isinstance(self.error, ErrorDetail):
            return self.error.message
        return self.error


# --- Answers -------------------------------------------------------------------------------------


class ErrorBody(_Model):
    code: str
    message: str


class WebhookAnswer(_Model):
    job_id: str
    # deleted: the job was deleted or expired; erased: it, or the user the delivery names, was erased.
    outcome: Literal["created", "updated", "duplicate", "stale", "deleted", "erased"]


class StatusView(_Model):
    job_id: str
    kind: Kind
    status: JobStatus
    progress: int
    created_at: datetime
    updated_at: datetime
    error: str | None = None
    # Timings: when the job was handed to the generation backend, when it reached its final state
    # (null until then); expires_at only while the deployment sets a retention period.
    dispatched_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: datetime | None = None


class DeletedEvent(_Model):
    """The last live progress event of a job that leaves the library (deleted, erased with its person,
    expired): a live view drops it (contract, "Live progress")."""

    job_id: str
    kind: Kind
    status: Literal["deleted"] = "deleted"
    updated_at: datetime


class _FileView(_Model):
    index: int
    url: str
    width: int
    height: int
    size_bytes: int
    description: str | None = None


class ImageView(_FileView):
    format: ImageFormat


class VideoView(_FileView):
    format: VideoFormat
    duration_seconds: float | None = None
    fps: float | None = None
    thumbnail_url: str | None = None


class ResultView(StatusView):
    prompt: str | None = None
    model: str | None = None
    images: list[ImageView] | None = None
    videos: list[VideoView] | None = None


# --- Generate, cancel, dispatch, notifications ---------------------------------------------------


class GenerateRequest(_Model):
    """POST /api/{images|videos}/generate. Unknown fields are refused: a typo must not pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT)
    job_id: JobId | None = None
    model: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:/-]{1,100}$")] | None = None
    num_images: StrictInt | None = Field(default=None, ge=1, le=MAX_NUM_IMAGES)
    size: str | None = Field(default=None, max_length=MAX_SIZE)
    duration_seconds: StrictInt | None = Field(default=None, ge=1, le=MAX_REQUEST_DURATION_SECONDS)

    @field_validator("prompt")
    @classmethod
    def _prompt_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt must not be blank")
        if any(unicodedata.category(ch) == "Cc" and ch not in "\n\r\t" for ch in value):
            raise ValueError("prompt must not contain control characters")
        return value

    @field_validator("size")
    @classmethod
    def _check_size(cls, value: str | None) -> str | None:
        problem = size_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value


class GenerateAnswer(_Model):
    job_id: str
    status: JobStatus
    status_url: str
    result_url: str


class DispatchMessage(_Model):
    """What the generate route puts on the dispatch queue: the job id, the rest is in the table."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    job_id: JobId


class BackendAnswer(_Model):
    """The generation backend's answer to a dispatch; the old backend names its own job id."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    job_id: JobId | None = None


NotificationType = Literal["IMAGE_COMPLETED", "IMAGE_FAILED", "VIDEO_COMPLETED", "VIDEO_FAILED"]
# Who started a job: the front end (POST .../generate), or the generation backend itself (a webhook
# for a job we had no record of).
Source = Literal["front-end", "backend-direct"]


class NotificationMetadata(_Model):
    generation_id: str
    source: Source


class NotificationView(_Model):
    id: str
    type: NotificationType
    title: str
    message: str
    read: bool
    created_at: datetime
    metadata: NotificationMetadata


class NotificationsPage(_Model):
    items: list[NotificationView]
    next_cursor: str | None
    unread_count: int


class NotificationsQuery(_Model):
    """GET /api/notifications query string."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    limit: int = Field(default=20, ge=1, le=100)
    # Any string: what the route did not make (empty, too long, tampered) is 400 invalid_cursor, checked
    # where the cursor is read (the contract), never a 422 of its shape.
    cursor: str | None = None
    unread: bool = False

    @field_validator("unread", mode="before")
    @classmethod
    def _strict_boolean(cls, value: object) -> object:
        if value not in ("true", "false", True, False):
            raise ValueError("unread must be true or false")
        return value


# --- A person's library ---------------------------------------------------------------------------

LibraryScope = Literal["mine", "organization"]


class LibraryQuery(_Model):
    """GET /api/images and /api/videos query string."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    limit: int = Field(default=20, ge=1, le=100)
    # Any string: what the route did not make (empty, too long, tampered) is 400 invalid_cursor, checked
    # where the cursor is read (the contract), never a 422 of its shape.
    cursor: str | None = None
    # A Literal, not JobStatus: a query parameter's schema is inlined in openapi.json (no $defs).
    status: Literal["queued", "processing", "completed", "failed", "canceled"] | None = None
    scope: LibraryScope = "mine"


class LibraryItem(StatusView):
    """A job of the library: its status body plus what a gallery shows, with a signed preview URL of a
    completed job's first image (a video's thumbnail, else the video)."""

    prompt: str | None = None
    model: str | None = None
    source: Source
    author_id: str
    organization_id: str | None = None
    preview_url: str | None = None


class LibraryPage(_Model):
    items: list[LibraryItem]
    next_cursor: str | None


class DeleteAnswer(_Model):
    job_id: str
    deleted: Literal[True] = True


S3Key = Annotated[str, Field(min_length=1, max_length=1024)]


class FileRemovalMessage(_Model):
    """What a delete (or a delivery for a deleted job) puts on the file removal queue: the keys it knows
    (files and thumbnails) and the job's folder, whose whole content goes too."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    job_id: JobId
    keys: list[Annotated[str, Field(min_length=1, max_length=1024)]] = Field(
        default_factory=list, max_length=64
    )
    prefixes: list[Annotated[str, Field(min_length=1, max_length=1024)]] = Field(
        default_factory=list, max_length=4
    )


# --- Clerk's account events (Svix) ------------------------------------------------------------------

CLERK_USER_DELETED = "user.deleted"


class ClerkEvent(_Payload):
    """An event of Clerk's webhooks (`{"type": ..., "object": "event", "data": {...}, ...}`). Only the
    envelope is read: `data` is an object, whose content only `user.deleted` needs (ClerkDeletedUser)."""

    # Any string: only `user.deleted` exactly is acted on, every other type (empty, padded, unknown,
    # however long within the body's limit) is acknowledged `ignored` (the contract), never a 422.
    type: str
    data: dict[str, object]


class ClerkDeletedUser(_Payload):
    """`data` of `user.deleted`: `{"id": "user_...", "object": "user", "deleted": true}`. The id is
    required and not blank: an event without one erases nobody."""

    id: PrincipalId


class ClerkAnswer(_Model):
    """What the Clerk webhook did with an event: `erasing` (the erasure is recorded and queued),
    `duplicate` (this person's erasure was already recorded: nothing changed), `ignored` (another event
    type: nothing stored)."""

    event_id: str
    type: str
    outcome: Literal["erasing", "duplicate", "ignored"]


class ErasureMessage(_Model):
    """What the erasure queue carries: the person to erase (the Clerk id, in clear only here, for as
    long as the erasure runs) and the pass (the last one checks again after the indexes caught up)."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    user_id: PrincipalId
    final_pass: bool = False
