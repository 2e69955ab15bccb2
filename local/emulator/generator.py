"""A stand-in for the generation backend, served by the local service (POST /_local/generator).

It takes a dispatch as the real backend does (`Authorization: Bearer <GENERATOR_API_KEY>`, the job as
JSON) and answers `{"job_id": ...}` at once. Then, in a thread: signed `processing` webhooks at 20, 50
and 80 %, real files written to the local bucket under the job's `output_prefix` (PNG images drawn with
Pillow; for a video, a short H.264 clip made by ffmpeg, or a file named `*.placeholder.mp4` when no
ffmpeg is at hand), and a signed `completed` webhook with the contract's payload. Switched off
(LOCAL_GENERATOR=off) it still accepts dispatches and does nothing: jobs wait for webhooks.
"""

import functools
import hashlib
import io
import json
import logging
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mediagen_sender import (
    CompletionEvent,
    DeliveryError,
    Dispatch,
    Image,
    Video,
    WebhookSender,
    completed,
    failed,
    processing,
)

log = logging.getLogger("local-stack")
MODEL_NAME = "mediagen-local-stand-in"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_SIDE = 2048
MAX_CLIP_SECONDS = 10


@dataclass
class LocalGenerator:
    s3: Any
    bucket: str
    webhook_secret: str
    api_key: str
    active: bool
    stop: threading.Event
    step_seconds: float = 0.4
    _threads: list[threading.Thread] = field(default_factory=list)

    def accept(self, authorization: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        """The backend's answer to a dispatch: (status, JSON body)."""
        if authorization != f"Bearer {self.api_key}":
            return 401, {"code": "unauthorized", "message": "A valid generator API key is required."}
        try:
            job = json.loads(body)
            job_id, kind, webhook_url = str(job["job_id"]), str(job["kind"]), str(job["webhook_url"])
            Dispatch.model_validate(job)  # what the thread reads: refused here, not in the thread
        except (ValueError, KeyError, TypeError):  # pydantic's ValidationError is a ValueError
            return 400, {"code": "bad_request", "message": "job_id, kind and webhook_url are required."}
        if urlsplit(webhook_url).hostname not in LOOPBACK:
            return 400, {"code": "bad_request", "message": "The local stand-in only calls loopback URLs."}
        log.info("Generator stand-in: %s job %s accepted%s", kind, job_id, "" if self.active else " (off)")
        if self.active:
            thread = threading.Thread(target=self._run, args=(job,), name=f"generator-{job_id}", daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()
        return 200, {"job_id": job_id}

    def close(self, timeout: float) -> None:
        """After `stop` is set: end the encoders, wait for the job threads."""
        kill_children()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, job: dict[str, Any]) -> None:
        started = time.monotonic()
        dispatch = Dispatch.model_validate(job)
        user, organization = dispatch.user_id, dispatch.organization_id
        try:
            for progress in (20, 50, 80):
                if self.stop.wait(self.step_seconds):
                    return
                event = processing(dispatch.job_id, progress, user_id=user, organization_id=organization)
                self._send(dispatch, event)
            files = self._make_files(job)
            video = dispatch.kind == "video"
            self._send(
                dispatch,
                completed(
                    dispatch.job_id,
                    images=None if video else [Image.model_validate(entry) for entry in files],
                    videos=[Video.model_validate(entry) for entry in files] if video else None,
                    prompt=dispatch.prompt or None,
                    model_name=MODEL_NAME,
                    generation_time_seconds=time.monotonic() - started,
                    user_id=user,
                    organization_id=organization,
                    folder=dispatch.folder,
                ),
            )
        except Exception as exc:
            log.exception("Generator stand-in: job %s failed", job.get("job_id"))
            if not self.stop.is_set():
                message = f"Local stand-in: {exc}"[:500]
                self._send(
                    dispatch, failed(dispatch.job_id, message, user_id=user, organization_id=organization)
                )

    def _make_files(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        prefix = str(job.get("output_prefix") or f"{job['kind']}s/{job['job_id']}/")
        prompt = str(job.get("prompt") or "")
        width, height = _size(job.get("size"), (1024, 1024) if job["kind"] == "image" else (640, 360))
        if job["kind"] == "video":
            seconds = min(float(job.get("duration_seconds") or 2), MAX_CLIP_SECONDS)
            clip, name = render_clip(width - width % 2, height - height % 2, seconds)
            entry = self._put(
                f"{prefix}{name}", clip, "video/mp4", prompt, width - width % 2, height - height % 2
            )
            thumbnail = f"{prefix}0.thumbnail.png"
            self._put(
                thumbnail,
                render_png(prompt, width, height, job["job_id"]),
                "image/png",
                prompt,
                width,
                height,
            )
            return [
                {
                    **entry,
                    "format": "mp4",
                    "duration_seconds": seconds,
                    "fps": 24,
                    "thumbnail_path": thumbnail,
                }
            ]
        count = max(1, min(int(job.get("num_images") or 1), 16))
        return [
            self._put(
                f"{prefix}{index}.png",
                render_png(prompt, width, height, f"{job['job_id']}/{index}"),
                "image/png",
                prompt,
                width,
                height,
            )
            for index in range(count)
        ]

    def _put(
        self, key: str, data: bytes, content_type: str, prompt: str, width: int, height: int
    ) -> dict[str, Any]:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        return {
            "file_path": key,
            "url": f"https://{self.bucket}.s3.amazonaws.com/{key}",
            "size_bytes": len(data),
            "format": key.rsplit(".", 1)[-1],
            "dimensions": f"{width}x{height}",
            "description": prompt or None,
        }

    def _send(self, dispatch: Dispatch, event: CompletionEvent) -> None:
        """One signed delivery with the sender kit (mediagen_sender), retried as the real backend
        retries: same webhook-id, backoff with jitter, Retry-After honoured, other 4xx final."""
        try:
            self.sender.send(dispatch.webhook_url, event)
        except DeliveryError as refused:
            if not self.stop.is_set():
                log.warning("Generator stand-in: webhook not delivered: %s", refused)

    @functools.cached_property
    def sender(self) -> WebhookSender:
        # Waits between retries end at once when the service stops.
        return WebhookSender([self.webhook_secret], max_attempts=4, sleep=self._wait)

    def _wait(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise DeliveryError(
                "the local service is stopping", code="stopping", status=None, webhook_id="", attempts=0
            )


def _size(value: Any, default: tuple[int, int]) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in str(value).lower().split("x"))
    except ValueError:
        return default
    return max(16, min(width, MAX_SIDE)), max(16, min(height, MAX_SIDE))


def render_png(prompt: str, width: int, height: int, seed: str) -> bytes:
    """A real PNG: a gradient in colours drawn from `seed`, with the prompt written on it."""
    from PIL import Image, ImageDraw, ImageFont

    digest = hashlib.sha256(seed.encode()).digest()
    start, end = digest[:3], digest[3:6]
    ramp = Image.linear_gradient("L").resize((width, height))
    image = Image.merge(
        "RGB",
        [ramp.point(lambda v, a=a, b=b: a + (b - a) * v // 255) for a, b in zip(start, end, strict=True)],
    )
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(12, width // 28))
    text = "\n".join(_wrap(prompt or "mediagen", 28)[:6])
    draw.multiline_text(
        (width // 16, height // 16), text, fill="white", font=font, stroke_width=2, stroke_fill="black"
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def ffmpeg_path() -> str | None:
    """ffmpeg from PATH, else the one the imageio-ffmpeg package ships, else None."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        return None


def render_clip(width: int, height: int, seconds: float) -> tuple[bytes, str]:
    """(bytes, file name): a real H.264 MP4 clip, or a clearly named placeholder without ffmpeg."""
    ffmpeg = ffmpeg_path()
    if ffmpeg:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "clip.mp4"
            source = f"testsrc2=size={width}x{height}:rate=24:duration={seconds}"
            command = [ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", source]
            command += [
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-movflags",
                "+faststart",
            ]
            if _run_child([*command, str(out)], timeout=60) == 0:
                return out.read_bytes(), "0.mp4"
            log.warning("ffmpeg failed; writing a placeholder")
    note = "Placeholder written by the mediagen local stand-in: no video encoder (ffmpeg) was found.\n"
    return note.encode(), "0.placeholder.mp4"


_children: set[subprocess.Popen[bytes]] = set()
_children_lock = threading.Lock()


def _run_child(command: list[str], timeout: float) -> int:
    """Run a command, known to `kill_children()` while it runs (so a stop leaves no process behind)."""
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    with _children_lock:
        _children.add(child)
    try:
        return child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()
    finally:
        with _children_lock:
            _children.discard(child)


def kill_children() -> None:
    with _children_lock:
        for child in _children:
            child.kill()
