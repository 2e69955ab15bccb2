"""The playground: a page for trying the API from a browser, served by `make run` on its own origin.

It listens on PLAYGROUND_PORT (default PORT+1; `off` to switch it off), a different origin from the
API's, so the browser makes the same CORS preflights against the API as the real front end does. The
page (`kits/playground/`) is static; besides it this server answers `config.json` (the API's URL) and,
when the service runs with its development key, `POST /token`, which mints a development token whose
`azp` is the playground's origin, as Clerk's tokens carry the front end's origin.

It is served by the same hardened server as the API (`http_server.HttpServer`: Host check, bounded
head and body, head and idle deadlines, a connection budget, JSON refusals, lingering close), with a
4 KB body limit. `POST /token` also checks `Origin`: only the page itself (or a client that is not a
browser and sends none) may mint a token, never another site's page.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.base import devkeys
from local.emulator.gateway import Request, Response
from local.emulator.http_server import LOOPBACK_NAMES, HttpLimits, HttpServer
from mediagen.contract.payloads import FINAL_STATUSES, IN_FLIGHT_STATUSES
from mediagen.core import shared_rules

log = logging.getLogger("local-stack")
PAGES = Path(__file__).resolve().parents[2] / "kits" / "playground"
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/playground.js": ("playground.js", "text/javascript; charset=utf-8"),
    "/live.js": ("live.js", "text/javascript; charset=utf-8"),
    "/playground.css": ("playground.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
    "/favicon.ico": ("favicon.svg", "image/svg+xml"),  # what a browser asks for by itself
}
MAX_TOKEN_REQUEST = 4096
METHODS = "GET, HEAD, POST, OPTIONS"


def playground_port(env: dict[str, str], api_port: int) -> int | None:
    """PLAYGROUND_PORT, or the API's port + 1; None when switched off."""
    value = (env.get("PLAYGROUND_PORT") or "").strip().lower()
    if value in ("off", "false", "0"):
        return None
    if not value:
        return api_port + 1 if api_port else None
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SystemExit(f"PLAYGROUND_PORT must be a port number or off, not {value!r}")
    return int(value)


def with_origin(parties: str, origin: str) -> str:
    """The allowed parties (CORS origins and `azp`) with the playground's origin added."""
    items = [item.strip() for item in parties.split(",") if item.strip()]
    return ",".join([*items, origin] if origin not in items else items)


@dataclass
class Playground:
    api_url: str
    dev_key: bool
    http: HttpServer | None = None
    events: dict[str, Any] | None = None  # the live progress endpoint (`events` of /_local/info)

    @property
    def port(self) -> int:
        assert self.http is not None
        return self.http.port

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def own_origins(self) -> frozenset[str]:
        """The page's origins: what its own requests carry in `Origin`."""
        return frozenset(f"http://{name}:{self.port}" for name in LOOPBACK_NAMES)

    @classmethod
    def bind(cls, port: int, api_url: str, dev_key: bool, idle_seconds: int = 30) -> "Playground":
        """Bound at once (OSError when the port is taken); serves after `start()`."""
        playground = cls(api_url, dev_key)
        limits = HttpLimits(
            threads=4, connection_budget=200, idle_seconds=idle_seconds, max_body_bytes=MAX_TOKEN_REQUEST
        )
        playground.http = HttpServer(playground.handle, port, limits, name="playground")
        return playground

    def start(self) -> None:
        assert self.http is not None
        self.http.start()

    def close(self) -> None:
        if self.http is not None:
            self.http.close()

    def handle(self, request: Request) -> tuple[Response, str | None]:
        path = request.target.split("?", 1)[0]
        method = request.method
        origin = request.header("origin")
        if method == "OPTIONS":  # a preflight: only the page itself is told what it may send
            headers = {"allow": METHODS, "vary": "Origin"}
            if origin in self.own_origins:
                headers.update(
                    {
                        "access-control-allow-origin": origin,
                        "access-control-allow-methods": "GET, POST",
                        "access-control-allow-headers": "content-type",
                    }
                )
            return Response(204, headers), "playground"
        if method not in ("GET", "HEAD", "POST"):
            return _error(
                405, "method_not_allowed", f"{method[:20]} is not served here.", allow=METHODS
            ), None
        if method == "POST":
            if path != "/token":
                return _error(405, "method_not_allowed", "Only /token takes a POST.", allow="GET, HEAD"), None
            if origin is not None and origin not in self.own_origins:
                message = "Tokens are minted for the playground's own page only."
                return _error(403, "origin_not_allowed", message), "playground"
            status, body = self.token(request.body)
            return Response.json(status, body, {"cache-control": "no-store"}), "playground"
        if path == "/config.json":
            return Response.json(200, self.config(), {"cache-control": "no-store"}), None
        if path in STATIC:
            name, content_type = STATIC[path]
            headers = {"content-type": content_type, "cache-control": "no-store"}
            return Response(200, headers, (PAGES / name).read_bytes()), None
        if path == "/token":
            return _error(405, "method_not_allowed", "POST a token request.", allow="POST"), None
        return _error(404, "not_found", "No such page."), None

    def config(self) -> dict[str, Any]:
        return {
            "api": self.api_url,
            "dev_token": self.dev_key,
            "origin": self.origin,
            "rules": page_rules(),
            "events": self.events,
        }

    def token(self, body: bytes) -> tuple[int, dict[str, Any]]:
        if not self.dev_key:
            return 404, {
                "code": "no_development_key",
                "message": "The service runs with its own issuer (AUTH_ISSUER): paste a token it accepts.",
            }
        try:
            asked = json.loads(body or b"{}")
            user, org = str(asked.get("user") or "user_1"), asked.get("org") or None
        except (ValueError, AttributeError):
            return 400, {"code": "malformed_json", "message": 'Send {"user": ..., "org": ...}.'}
        if not _principal(user) or (org is not None and not _principal(str(org))):
            return 422, {"code": "validation_error", "message": "user and org: letters, digits, _ and -."}
        token = devkeys.mint_token(user, str(org) if org else None, hours=1, azp=self.origin)
        return 200, {"token": token, "user": user, "org": org}


def page_rules() -> dict[str, Any]:
    """The service's own rules the page applies to its form (one source: shared_rules), so that its
    fields never offer what the API refuses."""
    return {
        "max_num_images": shared_rules.MAX_NUM_IMAGES,
        "max_duration_seconds": shared_rules.MAX_REQUEST_DURATION_SECONDS,
        "max_size_side": shared_rules.MAX_SIZE_SIDE,
        "size_pattern": shared_rules.SIZE_PATTERN.pattern,
        "max_prompt": shared_rules.MAX_PROMPT,
        "final_statuses": [str(status) for status in FINAL_STATUSES],
        # in their order: a pushed event of a later status is newer (live progress)
        "in_flight_statuses": [str(status) for status in IN_FLIGHT_STATUSES],
    }


def _principal(value: str) -> bool:
    return 0 < len(value) <= 128 and all(ch.isalnum() or ch in "_-" for ch in value) and value.isascii()


def _error(status: int, code: str, message: str, allow: str | None = None) -> Response:
    return Response.json(status, {"code": code, "message": message}, {"allow": allow} if allow else None)
