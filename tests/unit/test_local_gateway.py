"""The local HTTP API: routes from template.yaml, format 2.0 events, answers, CORS, intrinsics."""

import base64
import json
from typing import Any

import pytest

from deploy.base.cfn_functions import HttpRoute, http_routes
from deploy.base.intrinsics import Resolver, UnsupportedIntrinsic
from local.emulator.gateway import Cors, Gateway, Request, Route, lambda_answer, request_event
from local.harness.sources import rate_seconds

STATUS = HttpRoute("GET", "/api/images/{job_id}/status", "StatusFunction")


def test_routes_come_from_the_template() -> None:
    keys = {route.route_key for route in http_routes()}
    assert "POST /api/webhooks/image-completion" in keys
    assert "GET /api/images/{job_id}/status" in keys


def test_the_event_is_what_the_http_api_sends() -> None:
    request = Request(
        "GET",
        "/api/images/job%201/status?a=1&a=2&b=",
        [
            ("Host", "127.0.0.1:3000"),
            ("Authorization", "Bearer t"),
            ("Cookie", "x=1; y=2"),
            ("X-Multi", "a"),
            ("X-Multi", "b"),
        ],
        b"",
    )
    event = request_event(request, STATUS, {"job_id": "job 1"})
    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "GET /api/images/{job_id}/status"
    assert event["rawPath"] == "/api/images/job%201/status"
    assert event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["pathParameters"] == {"job_id": "job 1"}
    assert event["headers"]["authorization"] == "Bearer t"
    assert event["headers"]["x-multi"] == "a,b"
    assert "cookie" not in event["headers"] and event["cookies"] == ["x=1", "y=2"]
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["stage"] == "$default"
    assert event["isBase64Encoded"] is False and "body" not in event


@pytest.mark.parametrize(
    ("content_type", "body", "encoded"),
    [
        ("application/json", '{"prompt": "été"}'.encode(), False),
        ("text/plain; charset=utf-8", b"hello", False),
        ("application/octet-stream", b"\x89PNG", True),
        ("application/json", b"\xff\xfe", True),  # not UTF-8: passed as bytes, the handler refuses it
    ],
)
def test_bodies_are_text_or_base64_as_api_gateway_decides(
    content_type: str, body: bytes, encoded: bool
) -> None:
    event = request_event(Request("POST", "/x", [("content-type", content_type)], body), STATUS, {})
    assert event["isBase64Encoded"] is encoded
    assert (base64.b64decode(event["body"]) if encoded else event["body"].encode()) == body


def test_literal_paths_win_over_parameters_and_unknown_routes_are_json_404s() -> None:
    seen: list[str] = []

    def handler(name: str) -> Any:
        def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
            seen.append(name)
            return {"statusCode": 200, "body": json.dumps(event.get("pathParameters"))}

        return handle

    gateway = Gateway(
        [
            Route(HttpRoute("GET", "/api/{kind}/latest", "Param"), handler("param"), lambda: None),
            Route(HttpRoute("GET", "/api/images/latest", "Literal"), handler("literal"), lambda: None),
        ],
        cors=None,
    )
    response, function = gateway.handle(Request("GET", "/api/images/latest", [], b""))
    assert (response.status, function, seen) == (200, "Literal", ["literal"])
    response, function = gateway.handle(Request("GET", "/api/videos/latest", [], b""))
    assert json.loads(response.body) == {"kind": "videos"}
    for method, path in (("POST", "/api/images/latest"), ("GET", "/api/images/latest/x")):
        missing, function = gateway.handle(Request(method, path, [], b""))
        assert (missing.status, function) == (404, None)
        assert json.loads(missing.body)["code"] == "not_found"


def test_a_handler_that_raises_is_a_bare_500_as_in_aws() -> None:
    def broken(event: Any, context: Any) -> Any:
        raise RuntimeError("boom")

    gateway = Gateway([Route(STATUS, broken, lambda: None)], cors=None)
    response, _ = gateway.handle(Request("GET", "/api/images/j/status", [], b""))
    assert response.status == 500 and json.loads(response.body) == {"message": "Internal Server Error"}


def test_handler_answers_become_http_responses() -> None:
    answer = lambda_answer(
        {"statusCode": 201, "headers": {"Content-Type": "application/json"}, "body": "{}", "cookies": ["a=1"]}
    )
    assert (answer.status, answer.headers["content-type"], answer.body, answer.cookies) == (
        201,
        "application/json",
        b"{}",
        ["a=1"],
    )
    assert (
        lambda_answer(
            {"statusCode": 200, "body": base64.b64encode(b"\x00").decode(), "isBase64Encoded": True}
        ).body
        == b"\x00"
    )
    plain = lambda_answer({"hello": "world"})  # format 2.0 takes any other JSON as a 200 body
    assert (plain.status, json.loads(plain.body)) == (200, {"hello": "world"})


def test_cors_from_the_template_configuration() -> None:
    resolver = Resolver({"AuthAuthorizedParties": "https://app.dev,http://localhost:3001"}, {})
    configuration = {
        "AllowOrigins": {"Fn::Split": [",", {"Ref": "AuthAuthorizedParties"}]},
        "AllowHeaders": ["authorization", "content-type"],
        "AllowMethods": ["GET", "POST"],
        "MaxAge": 600,
    }
    cors = Cors.from_template(resolver(configuration))
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "Authorization, Content-Type",
    }
    allowed = cors.preflight(
        Request("OPTIONS", "/x", [("origin", "http://localhost:3001"), *preflight.items()], b"")
    )
    assert allowed.status == 204
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3001"
    assert allowed.headers["access-control-max-age"] == "600"
    denied = cors.preflight(
        Request("OPTIONS", "/x", [("origin", "https://evil.dev"), *preflight.items()], b"")
    )
    assert denied.status == 204 and denied.headers == {}
    empty = Cors.from_template(Resolver({"AuthAuthorizedParties": ""}, {})(configuration))
    assert empty.allow_origins == () and not empty.origin_allowed("https://app.dev")


def test_intrinsics_resolve_to_local_values() -> None:
    resolve = Resolver({"Bucket": "b", "Queue": "http://q"}, {"Table.Arn": "arn:t"})
    assert resolve({"Fn::Sub": "${Table.Arn}/index/x"}) == "arn:t/index/x"
    assert resolve({"Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}/*"}) == "arn:aws:s3:::b/*"
    assert resolve({"Fn::Sub": ["${X}-${!Literal}", {"X": {"Ref": "Bucket"}}]}) == "b-${Literal}"
    assert resolve({"Fn::Join": ["", ["a", {"Ref": "Bucket"}]]}) == "ab"
    assert resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y"]}]}) == "y"
    assert resolve({"A": {"Ref": "AWS::NoValue"}, "B": [{"Ref": "Queue"}]}) == {"B": ["http://q"]}
    with pytest.raises(UnsupportedIntrinsic):
        resolve({"Fn::ImportValue": "x"})
    with pytest.raises(UnsupportedIntrinsic):
        resolve({"Ref": "Nothing"})


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(2 days)", 172800), ("cron(0 * * * ? *)", None)],
)
def test_schedule_rates(expression: str, seconds: int | None) -> None:
    assert rate_seconds(expression) == seconds
