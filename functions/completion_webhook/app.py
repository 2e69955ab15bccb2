"""POST /api/webhooks/{image|video}-completion: the generation backend reports a job's progress."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from mediagen.core.settings import load_settings
from mediagen.edge.api import WEBHOOK_SECURITY, json_response, lambda_entry
from mediagen.edge.completion_delivery import receive_completion

load_settings("webhook_secrets|webhook_secrets_arn", "erasure_hash_key|erasure_hash_key_arn")

router = APIGatewayHttpRouter()
SUMMARY = "Completion webhook of the generation backend"
RESPONSES: dict[int, OpenAPIResponse] = {
    401: {
        "description": "Missing, malformed or invalid Standard Webhooks signature, or a timestamp 5 min off"
    },
    409: {"description": "The job belongs to another user, or is of the other kind"},
    503: {"description": "A temporary fault; the sender retries with the same webhook-id"},
}


@router.post(
    "/api/webhooks/image-completion",
    summary=SUMMARY,
    responses=RESPONSES,
    tags=["webhooks"],
    security=WEBHOOK_SECURITY,
)
def image_completion() -> Response:
    return json_response(receive_completion("image", router.current_event))


@router.post(
    "/api/webhooks/video-completion",
    summary=SUMMARY,
    responses=RESPONSES,
    tags=["webhooks"],
    security=WEBHOOK_SECURITY,
)
def video_completion() -> Response:
    return json_response(receive_completion("video", router.current_event))


lambda_handler = lambda_entry(router)
