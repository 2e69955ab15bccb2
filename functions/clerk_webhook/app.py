"""POST /api/webhooks/clerk: Clerk's account events (Svix); `user.deleted` erases the person."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from mediagen.core.settings import load_settings
from mediagen.edge.api import json_response, lambda_entry
from mediagen.edge.clerk_events import receive_clerk_event

load_settings(
    "clerk_webhook_secrets|clerk_webhook_secrets_arn",
    "erasure_hash_key|erasure_hash_key_arn",
    "erasure_queue_url",
)

router = APIGatewayHttpRouter()


@router.post("/api/webhooks/clerk")
def clerk_event() -> Response:
    return json_response(receive_clerk_event(router.current_event))


lambda_handler = lambda_entry(router)
