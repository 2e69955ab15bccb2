"""GET /api/{images|videos} (a person's library, one page) and DELETE /api/{images|videos}/{id}."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from mediagen.contract.payloads import DeleteAnswer, Kind, LibraryQuery
from mediagen.core.settings import USER_ROUTE, load_settings
from mediagen.edge.api import json_response, lambda_entry
from mediagen.edge.auth import authenticate_event
from mediagen.rules.library import delete, list_library

load_settings(*USER_ROUTE, "library_cursor_key|library_cursor_key_arn", "file_removal_queue_url")

router = APIGatewayHttpRouter()


@router.get("/api/images")
def list_images() -> Response:
    return list_jobs("image")


@router.get("/api/videos")
def list_videos() -> Response:
    return list_jobs("video")


@router.delete("/api/images/<job_id>")
def delete_image(job_id: str) -> Response:
    return delete_job("image", job_id)


@router.delete("/api/videos/<job_id>")
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
