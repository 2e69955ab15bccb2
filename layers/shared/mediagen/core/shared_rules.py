"""The rules mediagen shares with its kits: one definition, standard library only.

The service's payload models (mediagen.payloads) are built from these, and the sender kit carries an
exact copy (kits/sender/src/mediagen_sender/shared_rules.py, written by `make kit-rules`; a test fails
when the copy is not current), because the kit installs without the service's layer. A rule changed
here reaches the kit by `make kit-rules`, never by hand. No import beyond the standard library here.
"""

import re
from typing import Literal, get_args

# --- Job ids and people ------------------------------------------------------------------------------

JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PRINCIPAL_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")  # Clerk's user and organization ids

# --- Text ----------------------------------------------------------------------------------------------

MAX_PROMPT = 4000  # characters (code points): prompts and file descriptions
MAX_ERROR_MESSAGE = 2000
MAX_MODEL_NAME = 200
MAX_URL = 4096

MAX_PROGRESS = 100  # percent

# --- Files of a completion ---------------------------------------------------------------------------

MAX_FILES = 16
MAX_KEY = 1024  # S3's limit for a key
MAX_SIZE_BYTES = 50 * 1024**3
MAX_FORMAT = 10
ImageFormat = Literal["png", "jpeg", "jpg", "webp"]  # as stored and answered: lower case
VideoFormat = Literal["mp4", "webm"]
IMAGE_FORMATS = frozenset(get_args(ImageFormat))
VIDEO_FORMATS = frozenset(get_args(VideoFormat))
MAX_DURATION_SECONDS = 24 * 3600  # of a video file
MAX_FPS = 1000
MAX_GENERATION_TIME_SECONDS = 7 * 24 * 3600
MAX_DIMENSIONS = 13  # characters of WIDTHxHEIGHT
DIMENSIONS_PATTERN = re.compile(r"^([1-9][0-9]{0,5})x([1-9][0-9]{0,5})$")

# --- A generation request ----------------------------------------------------------------------------

MAX_NUM_IMAGES = 8
MAX_REQUEST_DURATION_SECONDS = 60
MAX_SIZE_SIDE = 8192
MAX_SIZE = 11  # characters of a size
SIZE_PATTERN = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")

# Where a job's files lie in the media bucket: `{kind}` is image or video, `{job_id}` the job's id. A
# deployment may set another pattern (MEDIA_KEY_PATTERN); the dispatched job names its folder.
DEFAULT_MEDIA_KEY_PATTERN = "{kind}s/{job_id}/"

# Unicode's control characters (category Cc) are exactly these two ranges: one regex search instead of
# a category lookup per character.
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f]")


def has_control_chars(text: str) -> bool:
    return _CONTROL_CHARS.search(text) is not None


def dimensions_problem(value: str) -> str | None:
    """Why `value` is not a file's `WIDTHxHEIGHT`, or None."""
    if len(value) > MAX_DIMENSIONS or not DIMENSIONS_PATTERN.fullmatch(value):
        return "dimensions must be WIDTHxHEIGHT with positive integers, e.g. 1024x1024"
    return None


def size_problem(value: str) -> str | None:
    """Why `value` is not a generation request's `size`, or None."""
    match = SIZE_PATTERN.fullmatch(value) if len(value) <= MAX_SIZE else None
    if not match or max(int(match[1]), int(match[2])) > MAX_SIZE_SIDE:
        return f"size must be WIDTHxHEIGHT, each from 1 to {MAX_SIZE_SIDE}, e.g. 1024x1024"
    return None


def format_problem(kind: str, value: str) -> str | None:
    """Why `value` (any case) is not a format of a `kind` ('image' or 'video') file, or None."""
    allowed = IMAGE_FORMATS if kind == "image" else VIDEO_FORMATS
    if value.lower() not in allowed:
        return f"a {kind}'s format is one of {sorted(allowed)}, not {value!r}"
    return None


def job_folder(kind: str, job_id: str, pattern: str = DEFAULT_MEDIA_KEY_PATTERN) -> str:
    """The folder of a job's files in the media bucket (`images/{job_id}/` by default)."""
    return pattern.format(kind=kind, job_id=job_id)


def s3_key_problem(path: str, folder: str | None = None) -> str | None:
    """Why `path` is not an acceptable S3 key (inside `folder`, a prefix ending with `/`, when given),
    or None when it is. The folder is the job's own (`images/{job_id}/`): a key is accepted only when it
    starts with it, so no job id (`images` included) reaches another job's files."""
    if has_control_chars(path):
        return "contains control characters"
    if path.startswith("/") or "\\" in path:
        return "must be a relative key with forward slashes"
    segments = path.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        return "must not contain empty, '.' or '..' segments"
    return outside_folder(path, folder) if folder is not None else None


def outside_folder(path: str, folder: str) -> str | None:
    """Why `path` (a well-formed key) is not inside `folder`, or None when it is."""
    if not path.startswith(folder) or len(path) == len(folder):
        return f"must lie inside the job's folder ({folder})"
    return None
