"""GET /api/{images|videos}/{id}/result: a completed job's files, as short-lived signed URLs."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from mediagen.contract.payloads import Kind
from mediagen.core.settings import USER_ROUTE, load_settings
from mediagen.edge.api import USER_SECURITY, json_response, lambda_entry
from mediagen.edge.auth import authenticate_event
from mediagen.rules.access import visible_generation
from mediagen.rules.views import result_view

load_settings(*USER_ROUTE, "media_bucket")

router = APIGatewayHttpRouter()
SUMMARY = "A completed job's files, as signed URLs"
NOT_COMPLETED: dict[int, OpenAPIResponse] = {
    409: {"description": "The job is not completed yet: the body carries its current `status`"}
}


@router.get(
    "/api/images/<job_id>/result",
    summary=SUMMARY,
    responses=NOT_COMPLETED,
    tags=["images"],
    security=USER_SECURITY,
)
def image_result(job_id: str) -> Response:
    return result("image", job_id)


@router.get(
    "/api/videos/<job_id>/result",
    summary=SUMMARY,
    responses=NOT_COMPLETED,
    tags=["videos"],
    security=USER_SECURITY,
)
def video_result(job_id: str) -> Response:
    return result("video", job_id)


def result(kind: Kind, job_id: str) -> Response:
    caller = authenticate_event(router.current_event, job_id)
    return json_response(result_view(visible_generation(caller, kind, job_id)), exclude_unset=True)


lambda_handler = lambda_entry(router)
