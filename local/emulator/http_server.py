"""The local service's HTTP server: waitress (a production WSGI server, pure Python, no C extension),
configured so that whatever a client sends, the answer is the contract's JSON or a closed connection.

- waitress reads every connection in one asynchronous loop and hands complete requests to a bounded
  pool of worker threads: a slow or idle client holds a socket, never a thread; idle connections are
  closed after `idle_seconds`; at most `connection_limit` connections are open (the others wait in the
  listen backlog, not reset).
- Limits are enforced while reading: the request line and headers (API Gateway's 10 KB), the body
  (API Gateway's 10 MB, `Content-Length` or chunked); a body over 512 KB is spooled to a temporary file,
  so memory stays bounded whatever is sent.
- waitress answers what it refuses (bad framing, limits, an unsupported transfer coding) with its own
  text/plain pages; `JsonErrorTask` answers them with the contract's JSON error (`code`, `message`)
  instead, and never a 5xx for something the client sent.
"""

import http
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask

from local.emulator.gateway import MAX_BODY_BYTES, Request, Response

log = logging.getLogger("local-stack")
# A queue of requests waiting for a worker is the bound doing its job under a burst, not a warning.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)
MAX_HEADER_BYTES = 10 * 1024  # API Gateway's HTTP API: request line and headers together
Handle = Callable[[Request], tuple[Response, str | None]]

# waitress's refusals, as the contract's errors. A transfer coding it does not implement (501) is the
# client's doing: a 400.
_REFUSALS = {
    400: (400, "bad_request"),
    413: (413, "payload_too_large"),
    431: (431, "request_header_fields_too_large"),
    501: (400, "unsupported_transfer_encoding"),
}


class JsonErrorTask(ErrorTask):
    """waitress's answer to a request it refused, as the contract's JSON error."""

    def execute(self) -> None:
        error = self.request.error
        status, code = _REFUSALS.get(error.code, (error.code, "internal_error"))
        if error.code in _REFUSALS:
            message = (
                f"{error.reason}: {str(error.body).splitlines()[0][:200]}" if error.body else error.reason
            )
        else:  # the application failed after it began to answer: no details (they may be a traceback)
            message = "An internal error occurred."
        body = json.dumps({"code": code, "message": message}).encode()
        self.status = f"{status} {http.HTTPStatus(status).phrase}"
        self.response_headers.extend([("Content-Type", "application/json")])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


def wsgi_application(handle: Handle) -> Callable[..., Iterable[bytes]]:
    """The WSGI application around `handle`: the request as received (raw target, headers, body)."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.monotonic()
        method = environ["REQUEST_METHOD"]
        target = environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/"
        try:
            headers = [
                (key[5:].replace("_", "-").lower(), value)
                for key, value in environ.items()
                if key.startswith("HTTP_")
            ]
            for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                if environ.get(key):
                    headers.append((key.replace("_", "-").lower(), environ[key]))
            body = environ["wsgi.input"].read(MAX_BODY_BYTES + 1)  # waitress has enforced the limit
            request = Request(method, target, headers, body, environ.get("REMOTE_ADDR") or "127.0.0.1")
            response, function = handle(request)
        except Exception:
            log.exception("%s %s failed", method, target[:200])
            response = Response.json(
                500, {"code": "internal_error", "message": "An internal error occurred."}
            )
            function = None
        try:
            phrase = http.HTTPStatus(response.status).phrase
        except ValueError:
            phrase = "Unknown"
        answer_headers = [
            *response.headers.items(),
            *(("set-cookie", cookie) for cookie in response.cookies),
            ("apigw-requestid", uuid.uuid4().hex[:16]),
            ("content-length", str(len(response.body))),
        ]
        start_response(f"{response.status} {phrase}", answer_headers)
        log.info(
            "%s %s -> %d %s(%.0f ms)",
            method,
            target[:200],
            response.status,
            f"{function} " if function else "",
            (time.monotonic() - started) * 1000,
        )
        return [b"" if method == "HEAD" else response.body]

    return application


@dataclass(frozen=True)
class HttpLimits:
    threads: int = 16  # requests handled at once (the others wait, read, in the loop)
    connection_limit: int = 1000  # open connections; more wait in the backlog
    backlog: int = 2048  # listen backlog (the kernel caps it at net.core.somaxconn)
    idle_seconds: int = 30  # a connection with no bytes in or out for this long is closed


class HttpServer:
    """One waitress server on 127.0.0.1:`port` (0: a free one), bound at once, served by `start()` in
    a thread of its own until `close()`."""

    def __init__(self, handle: Handle, port: int, limits: HttpLimits, name: str = "http") -> None:
        self.name = name
        self.server: Any = create_server(
            wsgi_application(handle),
            host="127.0.0.1",
            port=port,
            ident="mediagen-local",
            threads=limits.threads,
            connection_limit=limits.connection_limit,
            backlog=limits.backlog,
            channel_timeout=limits.idle_seconds,
            cleanup_interval=max(1, min(limits.idle_seconds, 5)),
            max_request_header_size=MAX_HEADER_BYTES,
            max_request_body_size=MAX_BODY_BYTES,
            asyncore_use_poll=True,  # select() stops at 1024 descriptors
        )
        self.server.channel_class = JsonErrorChannel
        self.port: int = self.server.effective_port
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            wasyncore.loop(timeout=0.2, map=self.server._map, use_poll=True, count=1)

    def close(self) -> None:
        """Stop accepting, finish the requests under way (5 s at most), close every connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        wasyncore.close_all(self.server._map)
