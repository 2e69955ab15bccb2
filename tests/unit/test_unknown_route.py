"""The `$default` route: what no route matches gets the contract's JSON 404 or 405, on AWS (the function)
and locally (the local gateway hands it the same requests)."""

import importlib
import json
from typing import Any

import pytest

from deploy.base.cfn_functions import DEFAULT_ROUTE, functions, http_routes
from deploy.base.intrinsics import Resolver
from deploy.base.lambda_events import http_api_event
from local.emulator.gateway import Gateway, Request, Route


def unknown_route_module(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The function's module with the API_ROUTES of the template, as Lambda would import it."""
    spec = next(spec for spec in functions() if spec.logical_id == "UnknownRouteFunction")
    monkeypatch.setenv("API_ROUTES", spec.environment["API_ROUTES"])
    module = importlib.import_module("unknown_route.app")
    return importlib.reload(module)


def event(method: str, path: str) -> dict[str, Any]:
    return http_api_event(method, path, route_key=DEFAULT_ROUTE)


def test_api_routes_of_the_function_are_the_routes_of_the_template(monkeypatch: pytest.MonkeyPatch) -> None:
    app = unknown_route_module(monkeypatch)
    declared = {(method, pattern.pattern) for method, pattern in app.ROUTES}
    expected = {
        (route.method, app._pattern(route.path).pattern) for route in http_routes() if not route.is_default
    }
    assert declared == expected


def test_the_default_route_is_the_template_s_catch_all() -> None:
    defaults = [route for route in http_routes() if route.is_default]
    assert [(route.route_key, route.function) for route in defaults] == [
        (DEFAULT_ROUTE, "UnknownRouteFunction")
    ]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/", 404, "not_found"),
        ("GET", "/api/images/job_1/nothing", 404, "not_found"),
        ("POST", "/wp-login.php", 404, "not_found"),
        ("DELETE", "/api/images/job_1/status", 405, "method_not_allowed"),
        ("GET", "/api/images/generate", 405, "method_not_allowed"),
        ("PUT", "/api/notifications", 405, "method_not_allowed"),
    ],
)
def test_answers_json_404_or_405(
    monkeypatch: pytest.MonkeyPatch, method: str, path: str, status: int, code: str
) -> None:
    app = unknown_route_module(monkeypatch)
    answer = app.lambda_handler(event(method, path), None)
    assert answer["statusCode"] == status
    assert answer["headers"]["content-type"] == "application/json"
    body = json.loads(answer["body"])
    assert body["code"] == code and body["message"]
    if status == 405:
        assert method not in answer["headers"]["allow"]


def test_the_local_gateway_sends_unmatched_requests_to_the_default_route(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = unknown_route_module(monkeypatch)
    seen: list[str] = []

    def known(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event["routeKey"])
        return {"statusCode": 200, "body": "{}"}

    def default(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event["routeKey"])
        answer: dict[str, Any] = app.lambda_handler(event, context)
        return answer

    routes = [
        Route(route, default if route.is_default else known, lambda: None)
        for route in http_routes()
        if route.is_default or route.route_key == "GET /api/images/{job_id}/status"
    ]
    gateway = Gateway(routes, None)
    ok, _ = gateway.handle(Request("GET", "/api/images/job_1/status", [], b""))
    wrong_method, _ = gateway.handle(Request("DELETE", "/api/images/job_1/status", [], b""))
    unknown, function = gateway.handle(Request("GET", "/nowhere?x=1", [], b""))
    assert ok.status == 200
    assert wrong_method.status == 405 and json.loads(wrong_method.body)["code"] == "method_not_allowed"
    assert unknown.status == 404 and json.loads(unknown.body)["code"] == "not_found"
    assert function == "UnknownRouteFunction"
    assert seen == ["GET /api/images/{job_id}/status", DEFAULT_ROUTE, DEFAULT_ROUTE]


def test_conditions_resolve_locally_as_cloudformation_does() -> None:
    conditions = {
        "Create": {"Fn::Equals": [{"Ref": "Bucket"}, ""]},
        "Grant": {"Fn::And": [{"Condition": "Create"}, {"Fn::Not": [{"Fn::Equals": [{"Ref": "Who"}, ""]}]}]},
    }
    chosen = {"Fn::If": ["Create", {"Ref": "MediaBucket"}, {"Ref": "Bucket"}]}
    existing = Resolver({"Bucket": "theirs", "Who": "", "MediaBucket": "ours"}, {}, conditions)
    created = Resolver({"Bucket": "", "Who": "arn", "MediaBucket": "ours"}, {}, conditions)
    assert existing(chosen) == "theirs" and not existing.condition("Grant")
    assert created(chosen) == "ours" and created.condition("Grant")
