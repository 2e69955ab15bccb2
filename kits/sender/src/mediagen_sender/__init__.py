"""mediagen's sender kit for the generation backend: payload models, Standard Webhooks signing, and
delivery with retries.

    from mediagen_sender import Image, WebhookSender, completed

    sender = WebhookSender(secrets=["whsec_..."])
    image = Image(file_path="images/job_1/0.png", size_bytes=1482013, format="png", dimensions="1024x1024")
    sender.send(webhook_url, completed("job_1", images=[image], prompt="Un phare breton"))
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
