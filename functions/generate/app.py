"""POST /api/{images|videos}/generate: the front end asks for a generation (one job id end to end)."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from mediagen.contract.payloads import GenerateRequest, Kind
from mediagen.core.settings import USER_ROUTE, load_settings
from mediagen.edge.api import (
    USER_SECURITY,
    headers_of,
    json_response,
    lambda_entry,
    parse_json_body,
    raw_body,
    require_json_content,
)
from mediagen.edge.auth import authenticate_event
from mediagen.rules.jobs import generate

load_settings(*USER_ROUTE, "dispatch_queue_url", "erasure_hash_key|erasure_hash_key_arn")

MAX_GENERATE_BYTES = 64 * 1024

router = APIGatewayHttpRouter()
SUMMARY = "Ask for a generation (one job id end to end)"
RESPONSES: dict[int, OpenAPIResponse] = {
    200: {"description": "The same user repeated a job_id: the same job, nothing created"},
    409: {"description": "The job id is already used by another user (`job_id_taken`)"},
}


@router.post(
    "/api/images/generate",
    summary=SUMMARY,
    responses=RESPONSES,
    tags=["images"],
    security=USER_SECURITY,
)
def generate_image() -> Response:
    return create("image")


@router.post(
    "/api/videos/generate",
    summary=SUMMARY,
    responses=RESPONSES,
    tags=["videos"],
    security=USER_SECURITY,
)
def generate_video() -> Response:
    return create("video")


def create(kind: Kind) -> Response:
    caller = authenticate_event(router.current_event)
    body = raw_body(router.current_event, MAX_GENERATE_BYTES)
    require_json_content(headers_of(router.current_event))
    answer, created = generate(caller, kind, parse_json_body(body, GenerateRequest))
    return json_response(answer, 202 if created else 200)


lambda_handler = lambda_entry(router)
