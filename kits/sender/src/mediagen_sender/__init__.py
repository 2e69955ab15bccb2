"""mediagen's sender kit for the generation backend: payload models, Standard Webhooks signing, and
delivery with retries.

    from mediagen_sender import Dispatch, Image, WebhookSender, completed

    sender = WebhookSender(secrets=["whsec_..."])  # every active secret
    job = Dispatch.model_validate(dispatched_json)  # what mediagen POSTed to the backend
    image = Image(file_path=f"{job.folder}0.png", size_bytes=1482013, format="png", dimensions="1024x1024")
    sender.send(job.webhook_url, completed(job.job_id, images=[image], folder=job.folder))

(kits/sender/README.md has the same, runnable as it is against `make run`.)
"""

from mediagen_sender.models import (
    CompletedEvent,
    CompletionData,
    CompletionEvent,
    Dispatch,
    ErrorDetail,
    FailedEvent,
    Image,
    MediaFile,
    Metadata,
    ProcessingEvent,
    Video,
    completed,
    failed,
    processing,
)
from mediagen_sender.sender import (
    Delivery,
    DeliveryError,
    Signer,
    WebhookSender,
    bearer_matches,
    parse_retry_after,
)

__all__ = [
    "CompletedEvent",
    "CompletionData",
    "CompletionEvent",
    "Delivery",
    "DeliveryError",
    "Dispatch",
    "ErrorDetail",
    "FailedEvent",
    "Image",
    "MediaFile",
    "Metadata",
    "ProcessingEvent",
    "Signer",
    "Video",
    "WebhookSender",
    "bearer_matches",
    "completed",
    "failed",
    "parse_retry_after",
    "processing",
]
