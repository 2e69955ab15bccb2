"""GET /api/{images|videos}/{id}/status: the front end polls a job."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from mediagen.contract.payloads import Kind
from mediagen.core.settings import USER_ROUTE, load_settings
from mediagen.edge.api import json_response, lambda_entry
from mediagen.edge.auth import authenticate_event
from mediagen.rules.access import status_view, visible_generation

load_settings(*USER_ROUTE)


def routes(app: APIGatewayHttpResolver) -> None:
    def status(kind: Kind, job_id: str) -> Response:
        caller = authenticate_event(app.current_event, job_id)
        return json_response(status_view(visible_generation(caller, kind, job_id)), exclude_unset=True)

    app.get("/api/images/<job_id>/status")(lambda job_id: status("image", job_id))
    app.get("/api/videos/<job_id>/status")(lambda job_id: status("video", job_id))


lambda_handler = lambda_entry(routes)
