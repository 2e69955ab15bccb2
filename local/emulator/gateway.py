"""What API Gateway's HTTP API does in front of the functions, for the local service.

Each request is matched to a route of template.yaml (most specific path first, as API Gateway does),
turned into the payload format 2.0 event that AWS would send, and given to the function's handler; its
answer becomes the HTTP response. Preflight requests are answered from the API's CorsConfiguration,
and allowed origins get the CORS headers on every answer.
"""

import base64
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from deploy.base.cfn_functions import HttpRoute
from deploy.base.lambda_events import http_api_event

log = logging.getLogger("local-stack")
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
API_ID = "local"

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query, as received
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name]
        return ",".join(values) if values else None


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    cookies: list[str] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, document: Any, headers: Mapping[str, str] | None = None) -> "Response":
        return cls(
            status, {"content-type": "application/json", **(headers or {})}, json.dumps(document).encode()
        )


@dataclass(frozen=True)
class Cors:
    """The HttpApi's CorsConfiguration, resolved."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...]
    allow_headers: tuple[str, ...]
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def from_template(cls, configuration: Mapping[str, Any]) -> "Cors":
        def names(key: str, lower: bool = False) -> tuple[str, ...]:
            values = [str(v).strip() for v in configuration.get(key) or [] if str(v).strip()]
            return tuple(v.lower() for v in values) if lower else tuple(values)

        max_age = configuration.get("MaxAge")
        return cls(
            allow_origins=names("AllowOrigins"),
            allow_methods=tuple(m.upper() for m in names("AllowMethods")),
            allow_headers=names("AllowHeaders", lower=True),
            expose_headers=names("ExposeHeaders"),
            max_age=int(max_age) if max_age is not None else None,
            allow_credentials=bool(configuration.get("AllowCredentials")),
        )

    def origin_allowed(self, origin: str | None) -> bool:
        return origin is not None and ("*" in self.allow_origins or origin in self.allow_origins)

    def allow_origin_header(self, origin: str) -> dict[str, str]:
        value = "*" if "*" in self.allow_origins and not self.allow_credentials else origin
        headers = {"access-control-allow-origin": value}
        if self.allow_credentials:
            headers["access-control-allow-credentials"] = "true"
        return headers

    def preflight(self, request: Request) -> Response:
        """API Gateway answers every preflight itself: 204, with the CORS headers only when the origin,
        the method and every requested header are allowed (the browser refuses the call otherwise)."""
        origin = request.header("origin")
        method = (request.header("access-control-request-method") or "").upper()
        requested = [
            h.strip().lower() for h in (request.header("access-control-request-headers") or "").split(",")
        ]
        allowed = (
            self.origin_allowed(origin)
            and ("*" in self.allow_methods or method in self.allow_methods)
            and all(not h or "*" in self.allow_headers or h in self.allow_headers for h in requested)
        )
        if not allowed or origin is None:
            return Response(204)
        headers = {
            **self.allow_origin_header(origin),
            "access-control-allow-methods": ",".join(self.allow_methods),
            "access-control-allow-headers": ",".join(self.allow_headers),
        }
        if self.max_age is not None:
            headers["access-control-max-age"] = str(self.max_age)
        return Response(204, headers)

    def decorate(self, request: Request, response: Response) -> None:
        origin = request.header("origin")
        if origin is not None and self.origin_allowed(origin):
            response.headers.update(self.allow_origin_header(origin))
            if self.expose_headers:
                response.headers["access-control-expose-headers"] = ",".join(self.expose_headers)


@dataclass(frozen=True)
class Route:
    route: HttpRoute
    handler: Handler
    context: Callable[[], Any]  # a fresh Lambda context per invocation
    pattern: re.Pattern[str] = field(init=False)
    parameters: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.route.is_default:  # `$default`: any method, any path, tried after every other route
            object.__setattr__(self, "pattern", re.compile(".*", re.DOTALL))
            object.__setattr__(self, "parameters", ())
            return
        parameters, parts = [], []
        for segment in self.route.path.strip("/").split("/"):
            match = re.fullmatch(r"\{(\w+)(\+?)\}", segment)
            if match:
                parameters.append(match.group(1))
                parts.append(f"(?P<{match.group(1)}>{'.+' if match.group(2) else '[^/]+'})")
            else:
                parts.append(re.escape(segment))
        object.__setattr__(self, "pattern", re.compile("/" + "/".join(parts)))
        object.__setattr__(self, "parameters", tuple(parameters))

    @property
    def specificity(self) -> tuple[bool, bool, int]:
        """API Gateway prefers literal paths, then fewer and non-greedy parameters; `$default` last."""
        return (self.route.is_default, "+}" in self.route.path, len(self.parameters))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.route.method not in (method, "ANY"):
            return None
        found = self.pattern.fullmatch(path)
        return {name: unquote(value) for name, value in found.groupdict().items()} if found else None


class Gateway:
    """Routes requests to handlers, as API Gateway's HTTP API does with template.yaml's routes."""

    def __init__(self, routes: list[Route], cors: Cors | None) -> None:
        self.routes = sorted(routes, key=lambda route: route.specificity)
        self.cors = cors

    def handle(self, request: Request) -> tuple[Response, str | None]:
        """The response, and the logical id of the function that made it (None: the gateway did)."""
        if request.method == "OPTIONS" and self.cors and request.header("access-control-request-method"):
            return self.cors.preflight(request), None
        response, function = self._route(request)
        if self.cors:
            self.cors.decorate(request, response)
        return response, function

    def _route(self, request: Request) -> tuple[Response, str | None]:
        if len(request.body) > MAX_BODY_BYTES:
            return Response.json(
                413, {"code": "payload_too_large", "message": "Request Entity Too Large"}
            ), None
        path = urlsplit(request.target).path or "/"
        for route in self.routes:
            parameters = route.match(request.method, path)
            if parameters is not None:
                event = request_event(request, route.route, parameters)
                try:
                    answer = route.handler(event, route.context())
                except Exception:  # what Lambda reports, API Gateway answers with a bare 500
                    log.exception("%s raised", route.route.function)
                    return Response.json(500, {"message": "Internal Server Error"}), route.route.function
                return lambda_answer(answer), route.route.function
        return Response.json(404, {"code": "not_found", "message": "Not Found"}), None


def request_event(request: Request, route: HttpRoute, path_parameters: dict[str, str]) -> dict[str, Any]:
    """The API Gateway HTTP API event (payload format 2.0) for `request` on `route`."""
    return http_api_event(
        request.method,
        request.target,
        headers=request.headers,
        body=request.body,
        route_key=route.route_key,
        path_parameters=path_parameters,
        source_ip=request.source_ip,
        api_id=API_ID,
    )


def lambda_answer(answer: Any) -> Response:
    """A handler's return value as API Gateway (format 2.0) turns it into an HTTP response."""
    if not isinstance(answer, dict) or "statusCode" not in answer:
        # Format 2.0 takes any other JSON value as a 200 JSON body.
        return Response.json(200, answer)
    headers = {str(k).lower(): str(v) for k, v in (answer.get("headers") or {}).items()}
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        headers[str(name).lower()] = ",".join(str(v) for v in values)
    body = answer.get("body") or ""
    data = base64.b64decode(body) if answer.get("isBase64Encoded") else str(body).encode("utf-8")
    return Response(int(answer["statusCode"]), headers, data, list(answer.get("cookies") or []))
