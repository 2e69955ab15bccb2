"""GET /api/{images|videos}/{id}/status: the front end polls a job."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from mediagen.contract.payloads import Kind
from mediagen.core.settings import USER_ROUTE, load_settings
from mediagen.edge.api import USER_SECURITY, json_response, lambda_entry
from mediagen.edge.auth import authenticate_event
from mediagen.rules.access import visible_generation
from mediagen.rules.views import status_view

load_settings(*USER_ROUTE)

router = APIGatewayHttpRouter()


@router.get(
    "/api/images/<job_id>/status", summary="A job's status (polled)", tags=["images"], security=USER_SECURITY
)
def image_status(job_id: str) -> Response:
    return status("image", job_id)


@router.get(
    "/api/videos/<job_id>/status", summary="A job's status (polled)", tags=["videos"], security=USER_SECURITY
)
def video_status(job_id: str) -> Response:
    return status("video", job_id)


def status(kind: Kind, job_id: str) -> Response:
    caller = authenticate_event(router.current_event, job_id)
    return json_response(status_view(visible_generation(caller, kind, job_id)), exclude_unset=True)


lambda_handler = lambda_entry(router)
