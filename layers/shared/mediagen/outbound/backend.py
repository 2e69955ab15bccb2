"""The generation backend's HTTP API, as the dispatcher calls it."""

import functools
import json
import urllib.error
import urllib.request
from typing import Any

from pydantic import ValidationError

from mediagen.contract.payloads import BackendAnswer
from mediagen.core.settings import settings
from mediagen.data.models import Generation
from mediagen.outbound.secrets import secret_value

TIMEOUT_SECONDS = 10
MAX_ANSWER_BYTES = 64 * 1024


class BackendUnavailable(Exception):
    """5xx, 408, 429, a timeout or a connection failure: a later attempt may succeed."""


class BackendRefused(Exception):
    """Another 4xx: the backend will not take this job, retrying will not help."""


def generator_url() -> str:
    return settings().require("generator_url")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry our key elsewhere and turn the POST into a GET: refuse it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    """Built on first use: its HTTPS context loads the CA bundle (~30 ms), not worth a cold start."""
    return urllib.request.build_opener(_NoRedirects)


def api_key() -> str:
    current = settings()
    if current.generator_api_key:
        return current.generator_api_key
    # A rotated key reaches every warm dispatcher within 5 minutes (mediagen.outbound.secrets).
    return secret_value(current.generator_api_key_arn).strip() if current.generator_api_key_arn else ""


def public_api_url() -> str:
    return (settings().public_api_url or "").rstrip("/")


def dispatch_body(job: Generation) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "user_id": job.author_id,
        "organization_id": job.organization,
        "kind": job.kind,
        "prompt": job.prompt,
        "model": job.model,
        "num_images": int(job.num_images or 1),
        "size": job.size,
        "duration_seconds": int(job.duration_seconds) if job.duration_seconds else None,
        "webhook_url": f"{public_api_url()}/api/webhooks/{job.kind}-completion",
        "output_prefix": settings().media_key_prefix(job.kind, job.job_id),
    }


def send(job: Generation) -> str | None:
    """POST the job to the backend. Returns the job id the backend names in its answer, if any."""
    # Sending is at least once (a dispatcher that dies after the backend's answer and before recording
    # it sends again): our job id is the backend's idempotency key, and its webhooks land on one record.
    headers = {
        "content-type": "application/json",
        "accept": "application/json",
        "idempotency-key": job.job_id,
    }
    key = api_key()
    if key:
        headers["authorization"] = f"Bearer {key}"
    request = urllib.request.Request(  # noqa: S310 - the URL is checked to be http(s)
        generator_url(), data=json.dumps(dispatch_body(job)).encode(), headers=headers, method="POST"
    )
    try:
        with _opener().open(request, timeout=TIMEOUT_SECONDS) as response:
            raw = response.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as exc:
        # 401/403: our key is wrong or being rotated, not the job: retry (the secret cache refreshes).
        if exc.code >= 500 or exc.code in (401, 403, 408, 425, 429):
            raise BackendUnavailable(f"the generation backend answered HTTP {exc.code}") from exc
        raise BackendRefused(f"the generation backend refused the job (HTTP {exc.code})") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise BackendUnavailable(f"the generation backend did not answer ({type(exc).__name__})") from exc
    try:
        return BackendAnswer.model_validate_json(raw).job_id if raw.strip() else None
    except ValidationError:
        return None  # an answer we cannot read names no other id: the job keeps ours
