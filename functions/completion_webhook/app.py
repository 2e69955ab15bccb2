"""POST /api/webhooks/{image|video}-completion: the generation backend reports a job's progress."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from mediagen.api import json_response, lambda_entry
from mediagen.completion_webhook import receive_completion
from mediagen.settings import load_settings

load_settings("webhook_secrets|webhook_secrets_arn")


def routes(app: APIGatewayHttpResolver) -> None:
    @app.post("/api/webhooks/image-completion")
    def image_completion() -> Response:
        return json_response(receive_completion("image", app.current_event))

    @app.post("/api/webhooks/video-completion")
    def video_completion() -> Response:
        return json_response(receive_completion("video", app.current_event))


lambda_handler = lambda_entry(routes)
