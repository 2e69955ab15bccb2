"""POST /api/webhooks/{image|video}-completion: the generation backend reports a job's progress."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from mediagen.core.settings import load_settings
from mediagen.edge.api import json_response, lambda_entry
from mediagen.edge.completion_delivery import receive_completion

load_settings("webhook_secrets|webhook_secrets_arn")


def routes(app: APIGatewayHttpResolver) -> None:
    @app.post("/api/webhooks/image-completion")
    def image_completion() -> Response:
        return json_response(receive_completion("image", app.current_event))

    @app.post("/api/webhooks/video-completion")
    def video_completion() -> Response:
        return json_response(receive_completion("video", app.current_event))


lambda_handler = lambda_entry(routes)
