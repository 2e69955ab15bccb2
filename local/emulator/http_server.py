"""The local service's HTTP server: waitress (a production WSGI server, pure Python, no C extension),
configured so that whatever a client sends, the answer is the contract's JSON or a closed connection.

- waitress reads every connection in one asynchronous loop and hands complete requests to a bounded
  pool of worker threads: a slow or idle client holds a socket, never a thread; idle connections are
  closed after `idle_seconds`; at most `connection_limit` connections are open (the others wait in the
  listen backlog, not reset).
- Limits are enforced while reading: the request line and headers (API Gateway's 10 KB), the body
  (API Gateway's 10 MB, `Content-Length` or chunked); a body over 512 KB is spooled to a temporary file,
  so memory stays bounded whatever is sent.
- waitress's refusals answered with the contract's JSON, and what waitress leaves open (a deadline for
  a request's head, a connection budget, a lingering close, smuggling refused): its connections,
  hardened in local/emulator/http_connections.py.
- Every port checks `Host` (`host_refusal`): only the loopback names of its own port, against DNS
  rebinding (a page of another site whose name resolves to 127.0.0.1).
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
from waitress.adjustments import Adjustments
from waitress.task import ThreadedTaskDispatcher

from local.emulator.gateway import MAX_BODY_BYTES, Request, Response
from local.emulator.http_connections import LocalServer, poll_once

log = logging.getLogger("local-stack")
# A queue of requests waiting for a worker is the bound doing its job under a burst, not a warning.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)
MAX_HEADER_BYTES = 10 * 1024  # API Gateway's HTTP API: request line and headers together
Handle = Callable[[Request], tuple[Response, str | None]]
Wsgi = Callable[..., Iterable[bytes]]
# Also in local/services/dynamodb_local/LoopbackDynamoDBLocal.java (DynamoDB Local's port): keep them alike.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def raise_open_files_limit(wanted: int = 8192) -> int:
    """The process's soft limit of open files raised towards `wanted` (within the hard limit): the
    connection budgets (1,000 per port) and the sandboxes' pipes need more than the 1,024 many systems
    start a process with. Returns the limit in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.warning("Open files limited to %d: fewer connections than the budgets can be served", soft)
    return int(soft)


def loopback_hosts(port: int) -> frozenset[str]:
    """The `Host` values a local port answers: its loopback names with its port."""
    return frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES)


def host_refusal(host: str | None, port: int) -> tuple[int, str, str] | None:
    """The refusal of a request whose `Host` is not one of this port's loopback names: a page of
    another site resolved to 127.0.0.1 (DNS rebinding) sends its own name. Shared by every port of the
    local service (API, playground, embedded AWS, events)."""
    if (host or "").strip().lower() in loopback_hosts(port):
        return None
    return (
        421,
        "misdirected_request",
        f"This port answers for 127.0.0.1:{port} and localhost:{port} only (Host: {(host or '')[:100]!r}).",
    )


def loopback_only(application: Wsgi, port: Callable[[], int]) -> Wsgi:
    """`application` behind the Host check: a foreign Host is answered 421 (JSON) and never reaches it."""

    def checked(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        refusal = host_refusal(environ.get("HTTP_HOST"), port())
        if refusal is None:
            return application(environ, start_response)
        status, code, message = refusal
        body = json.dumps({"code": code, "message": message}).encode()
        start_response(
            f"{status} {http.HTTPStatus(status).phrase}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return checked


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
    connection_budget: int = 1000  # open connections; over it, the quietest are closed to make room
    backlog: int = 2048  # listen backlog (the kernel caps it at net.core.somaxconn)
    idle_seconds: int = 30  # a connection with no bytes in or out for this long is closed
    head_seconds: float = 5.0  # a request's line and headers complete within this of their first byte
    linger_seconds: float = 2.0  # after a refusal: how long what the client still sends is read
    max_body_bytes: int = MAX_BODY_BYTES
    max_header_bytes: int = MAX_HEADER_BYTES


class HttpServer:
    """One hardened waitress server on 127.0.0.1:`port` (0: a free one), bound at once, served by
    `start()` in a thread of its own until `close()`. It serves `handle` (the local service's own
    requests) or any WSGI application (`wsgi`, e.g. moto's), behind the Host check."""

    def __init__(
        self,
        handle: Handle | None,
        port: int,
        limits: HttpLimits,
        name: str = "http",
        *,
        wsgi: Wsgi | None = None,
    ) -> None:
        self.name = name
        if wsgi is None:
            assert handle is not None
            wsgi = wsgi_application(handle)
        adjustments = Adjustments(
            host="127.0.0.1",
            port=port,
            ident="mediagen-local",
            threads=limits.threads,
            # A hard stop well above the budget (LocalServer.make_room keeps under the budget).
            connection_limit=limits.connection_budget + 100,
            backlog=limits.backlog,
            channel_timeout=limits.idle_seconds,
            cleanup_interval=1,
            max_request_header_size=limits.max_header_bytes,
            max_request_body_size=limits.max_body_bytes,
            asyncore_use_poll=True,  # select() stops at 1024 descriptors
        )
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(limits.threads)
        self._map: dict[int, Any] = {}
        self.server: Any = LocalServer(
            loopback_only(wsgi, lambda: self.port),
            self._map,
            dispatcher=dispatcher,
            adj=adjustments,
            sockinfo=adjustments.listen[0],
        )
        self.server.limits = limits
        self.port: int = self.server.effective_port
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            poll_once(self._map, timeout=0.2)

    def close(self, timeout: float = 5) -> None:
        """Stop accepting, finish the requests under way (`timeout` at most), close every connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)  # its loop turns every 0.2 s
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        wasyncore.close_all(self._map)
