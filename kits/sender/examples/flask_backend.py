"""The generation backend's side, in Flask, with the sender kit: a runnable example.

mediagen dispatches each job with `POST <GENERATOR_URL>` (`Authorization: Bearer <key>`,
`Idempotency-Key: <job_id>`, the job as JSON). This endpoint checks the key, answers 202 at once, and
a worker reports `processing` then `completed` (or `failed`) to the job's `webhook_url` with the kit.

    pip install './kits/sender[example]'      # Flask, boto3, Pillow
    GENERATOR_API_KEYS=key1 WEBHOOK_SECRETS=whsec_... MEDIA_BUCKET=my-bucket \\
        flask --app kits/sender/examples/flask_backend.py run --port 8080
    # and mediagen with GENERATOR_URL=http://127.0.0.1:8080/jobs GENERATOR_API_KEY=key1 (the same
    # WEBHOOK_SECRETS), e.g. `GENERATOR_URL=... GENERATOR_API_KEY=key1 WEBHOOK_SECRETS=... make run`

Replace `render` with the call to your model; the rest is what every backend needs. A real backend
hands the job to its queue (Celery, RQ...) instead of a thread.
"""

import io
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify, request
from pydantic import ValidationError

from mediagen_sender import (
    DeliveryError,
    Dispatch,
    Image,
    WebhookSender,
    bearer_matches,
    completed,
    failed,
    processing,
)

log = logging.getLogger("example-backend")
Store = Callable[[str, bytes, str], None]  # (S3 key, bytes, content type)


def s3_store(bucket: str) -> Store:
    """Writes to the media bucket (AWS_ENDPOINT_URL_S3 for a local stand-in such as `make run`'s)."""
    import boto3

    s3 = boto3.client("s3")

    def store(key: str, data: bytes, content_type: str) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    return store


def render(dispatch: Dispatch, index: int) -> tuple[bytes, int, int]:
    """Your model goes here. This one draws a flat PNG of the asked size (Pillow if installed)."""
    width, height = (int(side) for side in (dispatch.size or "512x512").split("x"))
    from PIL import Image as Picture

    out = io.BytesIO()
    Picture.new("RGB", (width, height), (40 + 50 * index, 90, 160)).save(out, format="PNG")
    return out.getvalue(), width, height


def run_job(dispatch: Dispatch, sender: WebhookSender, store: Store) -> None:
    """Progress, files, completion: what the backend reports for one job."""
    people = {"user_id": dispatch.user_id, "organization_id": dispatch.organization_id}
    started = time.monotonic()
    try:
        sender.send(dispatch.webhook_url, processing(dispatch.job_id, 10, **people))
        if dispatch.kind == "video":
            raise NotImplementedError("this example makes images only")
        images = []
        for index in range(dispatch.num_images):
            data, width, height = render(dispatch, index)
            key = f"{dispatch.folder}{index}.png"
            store(key, data, "image/png")
            size = f"{width}x{height}"
            images.append(Image(file_path=key, size_bytes=len(data), format="png", dimensions=size))
            progress = 10 + 80 * (index + 1) // dispatch.num_images
            sender.send(dispatch.webhook_url, processing(dispatch.job_id, progress, **people))
        event = completed(
            dispatch.job_id,
            images=images,
            prompt=dispatch.prompt,
            model_name="example-flat-png",
            generation_time_seconds=round(time.monotonic() - started, 3),
            user_id=dispatch.user_id,
            organization_id=dispatch.organization_id,
            folder=dispatch.folder,  # the deployment's folder for this job (MEDIA_KEY_PATTERN)
        )
        delivery = sender.send(dispatch.webhook_url, event)
        log.info("job %s delivered: %s", dispatch.job_id, delivery.outcome)
    except DeliveryError as refused:
        # A final refusal (bad signature, invalid payload, another user's job): log it with its code.
        log.error("job %s: mediagen refused the webhook: %s (%s)", dispatch.job_id, refused, refused.code)
    except Exception as exc:
        log.exception("job %s failed", dispatch.job_id)
        try:
            sender.send(dispatch.webhook_url, failed(dispatch.job_id, f"Generation failed: {exc}", **people))
        except DeliveryError as refused:
            log.error("job %s: the failure was not delivered: %s", dispatch.job_id, refused)


def create_app(
    api_keys: list[str],
    sender: WebhookSender,
    store: Store,
    start: Callable[[Callable[[], None]], Any] | None = None,
) -> Flask:
    app = Flask(__name__)
    start = start or (lambda work: threading.Thread(target=work, daemon=True).start())

    @app.post("/jobs")
    def receive_job() -> Any:
        if not bearer_matches(request.headers.get("Authorization"), api_keys):
            return jsonify(code="unauthorized", message="A valid API key is required."), 401
        try:
            dispatch = Dispatch.model_validate(request.get_json(force=True, silent=True) or {})
        except ValidationError as exc:
            return jsonify(code="validation_error", message=str(exc)[:500]), 422
        # mediagen sends at least once (Idempotency-Key = job_id): a real backend dedupes on it.
        start(lambda: run_job(dispatch, sender, store))
        return jsonify(job_id=dispatch.job_id), 202

    return app


def app_from_environment() -> Flask:
    return create_app(
        api_keys=os.environ["GENERATOR_API_KEYS"].split(","),
        sender=WebhookSender(os.environ["WEBHOOK_SECRETS"].split(",")),
        store=s3_store(os.environ["MEDIA_BUCKET"]),
    )


if os.environ.get("GENERATOR_API_KEYS"):  # `flask --app flask_backend.py run` finds `app`
    app = app_from_environment()
