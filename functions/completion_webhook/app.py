"""POST /api/webhooks/{image|video}-completion: the generation backend reports a job's progress."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from mediagen.core.settings import load_settings
from mediagen.edge.api import json_response, lambda_entry
from mediagen.edge.completion_delivery import receive_completion

load_settings("webhook_secrets|webhook_secrets_arn")

router = APIGatewayHttpRouter()


@router.post("/api/webhooks/image-completion")
def image_completion() -> Response:
    return json_response(receive_completion("image", router.current_event))


@router.post("/api/webhooks/video-completion")
def video_completion() -> Response:
    return json_response(receive_completion("video", router.current_event))


lambda_handler = lambda_entry(router)
