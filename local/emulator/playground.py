"""The playground: a page for trying the API from a browser, served by `make run` on its own origin.

It listens on PLAYGROUND_PORT (default PORT+1; `off` to switch it off), a different origin from the
API's, so the browser makes the same CORS preflights against the API as the real front end does. The
page (`kits/playground/`) is static; besides it this server answers `config.json` (the API's URL) and,
when the service runs with its development key, `POST /token`, which mints a development token whose
`azp` is the playground's origin, as Clerk's tokens carry the front end's origin.
"""

import json
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.emulator import devkeys
from mediagen.contract.payloads import FINAL_STATUSES
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
    http: ThreadingHTTPServer
    thread: threading.Thread | None = None
    events: dict[str, Any] | None = None  # the live progress endpoint (`events` of /_local/info)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}"

    @classmethod
    def bind(cls, port: int, api_url: str, dev_key: bool) -> "Playground":
        """Bound at once (OSError when the port is taken); serves after `start()`."""
        playground = cls(api_url, dev_key, ThreadingHTTPServer(("127.0.0.1", port), _Handler))
        playground.http.daemon_threads = True
        playground.http.playground = playground  # type: ignore[attr-defined]
        return playground

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self.http.serve_forever, name="playground", kwargs={"poll_interval": 0.2}
        )
        self.thread.start()

    def close(self) -> None:
        if self.thread is not None:
            self.http.shutdown()
            self.thread.join(5)
        self.http.server_close()

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
    }


def _principal(value: str) -> bool:
    return 0 < len(value) <= 128 and all(ch.isalnum() or ch in "_-" for ch in value) and value.isascii()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version, sys_version = "mediagen-playground", ""

    def do_GET(self) -> None:
        playground: Playground = self.server.playground  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        if path == "/config.json":
            self._send(200, "application/json", json.dumps(playground.config()).encode())
        elif path in STATIC:
            name, content_type = STATIC[path]
            self._send(200, content_type, (PAGES / name).read_bytes())
        else:
            self._json(404, {"code": "not_found", "message": "No such page."})

    def do_POST(self) -> None:
        playground: Playground = self.server.playground  # type: ignore[attr-defined]
        length = int(self.headers.get("content-length") or 0)
        if self.path.split("?", 1)[0] != "/token":
            self._json(404, {"code": "not_found", "message": "No such page."})
        elif length > MAX_TOKEN_REQUEST:
            self.close_connection = True
            self._json(413, {"code": "payload_too_large", "message": "Request Entity Too Large"})
        else:
            self._json(*playground.token(self.rfile.read(length)))

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(body).encode())

    def _send(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.send_header("cache-control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the API's own log tells what the page does."""
