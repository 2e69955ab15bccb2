"""POST /api/{images|videos}/{id}/cancel: the author cancels a job that has not finished."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from mediagen.contract.payloads import Kind
from mediagen.core.settings import USER_ROUTE, load_settings
from mediagen.edge.api import USER_SECURITY, json_response, lambda_entry
from mediagen.edge.auth import authenticate_event
from mediagen.rules.jobs import cancel
from mediagen.rules.views import status_view

load_settings(*USER_ROUTE)

router = APIGatewayHttpRouter()
SUMMARY = "Cancel a job (its author only)"
RESPONSES: dict[int, OpenAPIResponse] = {
    403: {
        "description": "The caller sees the job through its organization but is not its author (`not_author`)"
    },
    409: {"description": "The job is already in a final state"},
}


@router.post(
    "/api/images/<job_id>/cancel",
    summary=SUMMARY,
    responses=RESPONSES,
    tags=["images"],
    security=USER_SECURITY,
)
def cancel_image(job_id: str) -> Response:
    return cancel_job("image", job_id)


@router.post(
    "/api/videos/<job_id>/cancel",
    summary=SUMMARY,
    responses=RESPONSES,
    tags=["videos"],
    security=USER_SECURITY,
)
def cancel_video(job_id: str) -> Response:
    return cancel_job("video", job_id)


def cancel_job(kind: Kind, job_id: str) -> Response:
    caller = authenticate_event(router.current_event, job_id)
    return json_response(status_view(cancel(caller, kind, job_id)), exclude_unset=True)


lambda_handler = lambda_entry(router)
