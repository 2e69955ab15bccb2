"""POST /api/webhooks/image-completion: the generation backend reports an image job's progress."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from mediagen.api import lambda_entry
from mediagen.webhook_delivery import receive_completion


def routes(app: APIGatewayHttpResolver) -> None:
    @app.post("/api/webhooks/image-completion")
    def image_completion() -> Response:
        return receive_completion("image", app.current_event)


lambda_handler = lambda_entry(routes)
