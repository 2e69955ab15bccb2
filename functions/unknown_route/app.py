"""The HTTP API's `$default` route: every request that no route of the API matches.

A path the API does not have answers 404 `not_found`; a path it has, asked with another method, answers
405 `method_not_allowed` with an `Allow` header: the contract's JSON errors, as the local service gives
them, instead of API Gateway's own `{"message":"Not Found"}`. It imports the standard library only, so
that a scanner hammering unknown paths costs a few milliseconds of cold start and no layer code.
"""

import json
import os
import re
from typing import Any


def _pattern(path: str) -> re.Pattern[str]:
    """A route path (`/api/images/{job_id}/status`) as API Gateway matches it: `{x}` is one segment."""
    parts = ["[^/]+" if re.fullmatch(r"\{\w+\}", part) else re.escape(part) for part in path.split("/")]
    return re.compile("/".join(parts))


def known_routes(text: str) -> list[tuple[str, re.Pattern[str]]]:
    """`API_ROUTES`: comma-separated `METHOD /path` pairs."""
    routes = []
    for item in text.split(","):
        method, _, path = item.strip().partition(" ")
        if method and path.strip():
            routes.append((method.upper(), _pattern(path.strip())))
    return routes


ROUTES = known_routes(os.environ.get("API_ROUTES", ""))


def _answer(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps({"code": code, "message": message}),
    }


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    http = (event.get("requestContext") or {}).get("http") or {}
    path = str(http.get("path") or event.get("rawPath") or "/")
    method = str(http.get("method") or "GET").upper()
    allowed = sorted({known for known, pattern in ROUTES if pattern.fullmatch(path)})
    if allowed and method not in allowed:
        return _answer(
            405,
            "method_not_allowed",
            f"{method} is not allowed on this route.",
            {"allow": ", ".join(allowed)},
        )
    return _answer(404, "not_found", "No such route.")
