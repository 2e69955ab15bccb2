"""POST /api/webhooks/clerk: Clerk's account events (Svix); `user.deleted` erases the person."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from mediagen.api import json_response, lambda_entry
from mediagen.clerk_events import receive_clerk_event
from mediagen.settings import load_settings

load_settings(
    "clerk_webhook_secrets|clerk_webhook_secrets_arn",
    "erasure_hash_key|erasure_hash_key_arn",
    "erasure_queue_url",
)


def routes(app: APIGatewayHttpResolver) -> None:
    @app.post("/api/webhooks/clerk")
    def clerk_event() -> Response:
        return json_response(receive_clerk_event(app.current_event))


lambda_handler = lambda_entry(routes)
