"""POST /api/{images|videos}/{id}/cancel: the author cancels a job that has not finished."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from mediagen.contract.payloads import Kind
from mediagen.core.settings import USER_ROUTE, load_settings
from mediagen.edge.api import json_response, lambda_entry
from mediagen.edge.auth import authenticate_event
from mediagen.rules.access import status_view
from mediagen.rules.jobs import cancel

load_settings(*USER_ROUTE)


def routes(app: APIGatewayHttpResolver) -> None:
    def cancel_job(kind: Kind, job_id: str) -> Response:
        caller = authenticate_event(app.current_event, job_id)
        return json_response(status_view(cancel(caller, kind, job_id)), exclude_unset=True)

    app.post("/api/images/<job_id>/cancel")(lambda job_id: cancel_job("image", job_id))
    app.post("/api/videos/<job_id>/cancel")(lambda job_id: cancel_job("video", job_id))


lambda_handler = lambda_entry(routes)
