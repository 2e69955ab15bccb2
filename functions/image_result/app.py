"""GET /api/images/{id}/result: a completed image job's files, as short-lived signed URLs."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from mediagen.access import result_view, visible_generation
from mediagen.api import json_response, lambda_entry
from mediagen.auth import authenticate_event


def routes(app: APIGatewayHttpResolver) -> None:
    @app.get("/api/images/<job_id>/result")
    def image_result(job_id: str) -> Response:
        caller = authenticate_event(app.current_event, job_id)
        return json_response(result_view(visible_generation(caller, "image", job_id)))


lambda_handler = lambda_entry(routes)
