"""GET /api/{images|videos} (a person's library, one page) and DELETE /api/{images|videos}/{id}."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from mediagen.contract.payloads import DeleteAnswer, Kind, LibraryQuery
from mediagen.core.settings import USER_ROUTE, load_settings
from mediagen.edge.api import USER_SECURITY, json_response, lambda_entry
from mediagen.edge.auth import authenticate_event
from mediagen.rules.library import delete, list_library

load_settings(*USER_ROUTE, "library_cursor_key|library_cursor_key_arn", "file_removal_queue_url")

router = APIGatewayHttpRouter()
LIST_SUMMARY = "The caller's library (scope=mine) or their organization's, newest first"
LIST_RESPONSES: dict[int, OpenAPIResponse] = {
    400: {
        "description": "The cursor is not one this route gave this caller for these filters "
        "(`invalid_cursor`)"
    },
    422: {
        "description": "limit outside 1-100, an unknown status or scope, an unknown parameter, or "
        "scope=organization without an active organization (`no_active_organization`)"
    },
}
DELETE_SUMMARY = "Delete a job, its files and its notification (its author only); its id is spent"
DELETE_RESPONSES: dict[int, OpenAPIResponse] = {
    403: {
        "description": "The caller sees the job through its organization but is not its author (`not_author`)"
    },
    404: {"description": "No such job, one the caller may not see, or one already deleted or expired"},
}


@router.get(
    "/api/images", summary=LIST_SUMMARY, responses=LIST_RESPONSES, tags=["images"], security=USER_SECURITY
)
def list_images() -> Response:
    return list_jobs("image")


@router.get(
    "/api/videos", summary=LIST_SUMMARY, responses=LIST_RESPONSES, tags=["videos"], security=USER_SECURITY
)
def list_videos() -> Response:
    return list_jobs("video")


@router.delete(
    "/api/images/<job_id>",
    summary=DELETE_SUMMARY,
    responses=DELETE_RESPONSES,
    tags=["images"],
    security=USER_SECURITY,
)
def delete_image(job_id: str) -> Response:
    return delete_job("image", job_id)


@router.delete(
    "/api/videos/<job_id>",
    summary=DELETE_SUMMARY,
    responses=DELETE_RESPONSES,
    tags=["videos"],
    security=USER_SECURITY,
)
def delete_video(job_id: str) -> Response:
    return delete_job("video", job_id)


def list_jobs(kind: Kind) -> Response:
    caller = authenticate_event(router.current_event)
    query = LibraryQuery.model_validate(router.current_event.query_string_parameters or {})
    return json_response(list_library(caller, kind, query), exclude_unset=True)


def delete_job(kind: Kind, job_id: str) -> Response:
    caller = authenticate_event(router.current_event, job_id)
    delete(caller, kind, job_id)
    return json_response(DeleteAnswer(job_id=job_id))


lambda_handler = lambda_entry(router)
