"""GET /api/images/{id}/status: the front end polls an image job."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from mediagen.access import status_view, visible_generation
from mediagen.api import json_response, lambda_entry
from mediagen.auth import authenticate_event


def routes(app: APIGatewayHttpResolver) -> None:
    @app.get("/api/images/<job_id>/status")
    def image_status(job_id: str) -> Response:
        caller = authenticate_event(app.current_event, job_id)
        return json_response(status_view(visible_generation(caller, "image", job_id)))


lambda_handler = lambda_entry(routes)
