"""The completion webhook's payloads (the contract's "Completion webhook body") and the dispatched job.

The models check what mediagen checks, by mediagen's own rules (`shared_rules`, an exact copy of the
service's definitions), so a payload it would refuse with a 422 fails here, before anything is sent:
job ids, file keys inside the job's own folder (`images/<job_id>/` unless the deployment set another:
pass the dispatched job's `folder`), `WIDTHxHEIGHT` dimensions, image formats for images and
`mp4`/`webm` for videos, at most 16 files, progress 0-100, text lengths. Numbers are strict, as the
service reads them: `1.0` is not a count of bytes.
"""

from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidationInfo,
    model_validator,
)

from mediagen_sender.shared_rules import (
    DEFAULT_MEDIA_KEY_PATTERN,
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
    MAX_PROGRESS,
    MAX_PROMPT,
    MAX_SIZE_BYTES,
    MAX_URL,
    PRINCIPAL_ID_PATTERN,
    dimensions_problem,
    format_problem,
    job_folder,
    s3_key_problem,
)

MAX_TEXT = MAX_PROMPT


def _checked(problem_of: Callable[[str], str | None]) -> Callable[[str], str]:
    """A pydantic validator from one of the shared rules (a problem, or None)."""

    def check(value: str) -> str:
        problem = problem_of(value)
        if problem:
            raise ValueError(problem)
        return value

    return check


JobId = Annotated[str, Field(pattern=JOB_ID_PATTERN.pattern)]
PrincipalId = Annotated[str, Field(pattern=PRINCIPAL_ID_PATTERN.pattern)]
Dimensions = Annotated[
    str,
    Field(max_length=MAX_DIMENSIONS, examples=["1024x1024"]),
    AfterValidator(_checked(dimensions_problem)),
]
Number = StrictInt | StrictFloat


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MediaFile(_Model):
    """One file written to the media bucket. `file_path` is its S3 key, inside the job's folder."""

    file_path: str = Field(min_length=1, max_length=MAX_KEY, examples=["images/job_1/0.png"])
    size_bytes: StrictInt = Field(ge=0, le=MAX_SIZE_BYTES)
    format: str = Field(min_length=1, max_length=MAX_FORMAT)
    dimensions: Dimensions
    url: str | None = Field(default=None, max_length=MAX_URL)
    description: str | None = Field(default=None, max_length=MAX_TEXT)


class Image(MediaFile):
    @model_validator(mode="after")
    def _image_format(self) -> "Image":
        problem = format_problem("image", self.format)
        if problem:
            raise ValueError(problem)
        return self


class Video(MediaFile):
    duration_seconds: Number = Field(gt=0, le=MAX_DURATION_SECONDS)
    fps: Number | None = Field(default=None, gt=0, le=MAX_FPS)
    thumbnail_path: str | None = Field(default=None, min_length=1, max_length=MAX_KEY)

    @model_validator(mode="after")
    def _video_format(self) -> "Video":
        problem = format_problem("video", self.format)
        if problem:
            raise ValueError(problem)
        return self


class Metadata(_Model):
    model_name: str | None = Field(default=None, min_length=1, max_length=MAX_MODEL_NAME)
    generation_time_seconds: Number | None = Field(default=None, ge=0, le=MAX_GENERATION_TIME_SECONDS)


class CompletionData(_Model):
    original_prompt: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT)
    images: list[Image] | None = Field(default=None, min_length=1, max_length=MAX_FILES)
    videos: list[Video] | None = Field(default=None, min_length=1, max_length=MAX_FILES)
    metadata: Metadata | None = None


class ErrorDetail(_Model):
    message: str = Field(min_length=1, max_length=MAX_ERROR_MESSAGE)


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
    progress: StrictInt = Field(ge=0, le=MAX_PROGRESS)


class CompletedEvent(_Event):
    status: Literal["completed"] = "completed"
    progress: Literal[100] = 100  # MAX_PROGRESS
    data: CompletionData

    @model_validator(mode="after")
    def _files_inside_the_job_folder(self, info: ValidationInfo) -> "CompletedEvent":
        """Every key inside the job's folder: the one given as `folder` in the validation context (the
        dispatched job's), else the default pattern's (`images/<job_id>/`)."""
        if bool(self.data.images) == bool(self.data.videos):
            raise ValueError("a completion lists its files under data.images or data.videos (one of them)")
        context = info.context if isinstance(info.context, dict) else {}
        folder = context.get("folder") or job_folder(self.kind, self.job_id, DEFAULT_MEDIA_KEY_PATTERN)
        for media in [*(self.data.images or []), *(self.data.videos or [])]:
            paths: list[str | None] = [media.file_path, getattr(media, "thumbnail_path", None)]
            for path in filter(None, paths):
                problem = s3_key_problem(path, folder)
                if problem:
                    raise ValueError(f"file_path {path[:100]!r}: {problem}")
        return self

    @property
    def kind(self) -> Literal["image", "video"]:
        return "image" if self.data.images else "video"


class FailedEvent(_Event):
    status: Literal["failed"] = "failed"
    error: ErrorDetail


CompletionEvent = ProcessingEvent | CompletedEvent | FailedEvent


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
    folder: str | None = None,
) -> CompletedEvent:
    """`completed` with the files of an image job (`images`) or of a video job (`videos`), every key
    inside `folder` (the dispatched job's `Dispatch.folder`; by default `images/<job_id>/`)."""
    metadata = (
        Metadata(model_name=model_name, generation_time_seconds=generation_time_seconds)
        if model_name is not None or generation_time_seconds is not None
        else None
    )
    data = CompletionData(original_prompt=prompt, images=images, videos=videos, metadata=metadata)
    fields = {"job_id": job_id, "user_id": user_id, "organization_id": organization_id, "data": data}
    return CompletedEvent.model_validate(fields, context={"folder": folder})


def failed(
    job_id: str, message: str, *, user_id: str | None = None, organization_id: str | None = None
) -> FailedEvent:
    """`failed` with the message the user will read in their notification."""
    error = ErrorDetail(message=message[:MAX_ERROR_MESSAGE])
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
    num_images: int = Field(default=1, ge=1, le=MAX_FILES)  # a completion lists at most MAX_FILES
    size: str | None = None
    duration_seconds: int | None = None
    output_prefix: str | None = None

    @property
    def folder(self) -> str:
        """Where this job's files go in the media bucket (`images/<job_id>/` unless told otherwise)."""
        return self.output_prefix or job_folder(self.kind, self.job_id)
