"""POST /api/{images|videos}/generate: the front end asks for a generation (one job id end to end)."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from mediagen.contract.payloads import GenerateRequest, Kind
from mediagen.core.settings import USER_ROUTE, load_settings
from mediagen.edge.api import (
    headers_of,
    json_response,
    lambda_entry,
    parse_json_body,
    raw_body,
    require_json_content,
)
from mediagen.edge.auth import authenticate_event
from mediagen.rules.jobs import generate

load_settings(*USER_ROUTE, "dispatch_queue_url")

MAX_GENERATE_BYTES = 64 * 1024


def routes(app: APIGatewayHttpResolver) -> None:
    def create(kind: Kind) -> Response:
        caller = authenticate_event(app.current_event)
        body = raw_body(app.current_event, MAX_GENERATE_BYTES)
        require_json_content(headers_of(app.current_event))
        answer, created = generate(caller, kind, parse_json_body(body, GenerateRequest))
        return json_response(answer, 202 if created else 200)

    app.post("/api/images/generate")(lambda: create("image"))
    app.post("/api/videos/generate")(lambda: create("video"))


lambda_handler = lambda_entry(routes)
