"""GET /api/{images|videos} (a person's library, one page) and DELETE /api/{images|videos}/{id}."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from mediagen.api import json_response, lambda_entry
from mediagen.auth import authenticate_event
from mediagen.library import delete, list_library
from mediagen.payloads import DeleteAnswer, Kind, LibraryQuery
from mediagen.settings import USER_ROUTE, load_settings

load_settings(*USER_ROUTE, "library_cursor_key|library_cursor_key_arn", "file_removal_queue_url")


def routes(app: APIGatewayHttpResolver) -> None:
    def list_jobs(kind: Kind) -> Response:
        caller = authenticate_event(app.current_event)
        query = LibraryQuery.model_validate(app.current_event.query_string_parameters or {})
        return json_response(list_library(caller, kind, query), exclude_unset=True)

    def delete_job(kind: Kind, job_id: str) -> Response:
        caller = authenticate_event(app.current_event, job_id)
        delete(caller, kind, job_id)
        return json_response(DeleteAnswer(job_id=job_id))

    app.get("/api/images")(lambda: list_jobs("image"))
    app.get("/api/videos")(lambda: list_jobs("video"))
    app.delete("/api/images/<job_id>")(lambda job_id: delete_job("image", job_id))
    app.delete("/api/videos/<job_id>")(lambda job_id: delete_job("video", job_id))


lambda_handler = lambda_entry(routes)
