"""GET /api/{images|videos}/{id}/result: a completed job's files, as short-lived signed URLs."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from mediagen.contract.payloads import Kind
from mediagen.core.settings import USER_ROUTE, load_settings
from mediagen.edge.api import json_response, lambda_entry
from mediagen.edge.auth import authenticate_event
from mediagen.rules.access import result_view, visible_generation

load_settings(*USER_ROUTE, "media_bucket")

router = APIGatewayHttpRouter()


@router.get("/api/images/<job_id>/result")
def image_result(job_id: str) -> Response:
    return result("image", job_id)


@router.get("/api/videos/<job_id>/result")
def video_result(job_id: str) -> Response:
    return result("video", job_id)


def result(kind: Kind, job_id: str) -> Response:
    caller = authenticate_event(router.current_event, job_id)
    return json_response(result_view(visible_generation(caller, kind, job_id)), exclude_unset=True)


lambda_handler = lambda_entry(router)
