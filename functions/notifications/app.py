"""GET /api/notifications and POST /api/notifications/{id}/read: the caller's notifications."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from mediagen.contract.payloads import NotificationsQuery
from mediagen.core.settings import USER_ROUTE, load_settings
from mediagen.edge.api import USER_SECURITY, json_response, lambda_entry
from mediagen.edge.auth import authenticate_event
from mediagen.rules.notifications import list_notifications, mark_read

load_settings(*USER_ROUTE)


router = APIGatewayHttpRouter()


@router.get(
    "/api/notifications",
    summary="The caller's notifications, newest first",
    responses={
        400: {"description": "The cursor is not one this API gave (`invalid_cursor`)"},
        422: {"description": "limit outside 1-100, unread not true/false, or an unknown parameter"},
    },
    tags=["notifications"],
    security=USER_SECURITY,
)
def notifications() -> Response:
    caller = authenticate_event(router.current_event)
    query = NotificationsQuery.model_validate(router.current_event.query_string_parameters or {})
    page = list_notifications(
        caller.user_id, limit=query.limit, cursor=query.cursor, unread_only=query.unread
    )
    return json_response(page, exclude_none=False)


@router.post(
    "/api/notifications/<notification_id>/read",
    summary="Mark a notification read",
    tags=["notifications"],
    security=USER_SECURITY,
)
def read(notification_id: str) -> Response:
    caller = authenticate_event(router.current_event)
    return json_response(mark_read(caller.user_id, notification_id))


lambda_handler = lambda_entry(router)
