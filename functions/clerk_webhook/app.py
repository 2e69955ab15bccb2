"""POST /api/webhooks/clerk: Clerk's account events (Svix); `user.deleted` erases the person."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from mediagen.core.settings import load_settings
from mediagen.edge.api import WEBHOOK_SECURITY, json_response, lambda_entry
from mediagen.edge.clerk_events import receive_clerk_event

load_settings(
    "clerk_webhook_secrets|clerk_webhook_secrets_arn",
    "erasure_hash_key|erasure_hash_key_arn",
    "erasure_queue_url",
)

router = APIGatewayHttpRouter()
RESPONSES: dict[int, OpenAPIResponse] = {
    401: {
        "description": "Missing or invalid Svix signature (no active Clerk secret signed it), or a "
        "timestamp 5 min off"
    },
    422: {"description": "Not a Clerk event, or `user.deleted` without `data.id`: nobody is erased"},
    503: {"description": "A temporary fault; Svix retries with the same svix-id"},
}


@router.post(
    "/api/webhooks/clerk",
    summary="Clerk's account events, signed by Svix (svix-id, svix-timestamp, svix-signature; or webhook-*)",
    responses=RESPONSES,
    tags=["webhooks"],
    security=WEBHOOK_SECURITY,
)
def clerk_event() -> Response:
    return json_response(receive_clerk_event(router.current_event))


lambda_handler = lambda_entry(router)
