"""GET /api/{images|videos}/{id}/result: a completed job's files, as short-lived signed URLs."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from mediagen.contract.payloads import Kind
from mediagen.core.settings import USER_ROUTE, load_settings
from mediagen.edge.api import json_response, lambda_entry
from mediagen.edge.auth import authenticate_event
from mediagen.rules.access import result_view, visible_generation

load_settings(*USER_ROUTE, "media_bucket")


def routes(app: APIGatewayHttpResolver) -> None:
    def result(kind: Kind, job_id: str) -> Response:
        caller = authenticate_event(app.current_event, job_id)
        return json_response(result_view(visible_generation(caller, kind, job_id)), exclude_unset=True)

    app.get("/api/images/<job_id>/result")(lambda job_id: result("image", job_id))
    app.get("/api/videos/<job_id>/result")(lambda job_id: result("video", job_id))


lambda_handler = lambda_entry(routes)
