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
- What waitress leaves open is closed here (`LocalServer`, `LocalChannel`, `StrictParser`): a request's
  head must be complete within `head_seconds` of its first byte (else 408 and a close); over
  `connection_budget` open connections, the quietest connections that are not being answered are
  closed to make room, so slow or idle sockets cannot lock well-behaved clients out; a refusal is
  answered whole before the close (the write side is shut, what the client still sends is read and
  dropped for `linger_seconds`: no reset that would destroy the answer); `Content-Length` with
  `Transfer-Encoding`, a bare LF in the head, and a chunk larger than the body limit are refused at once.
- Every port checks `Host` (`host_refusal`): only the loopback names of its own port, against DNS
  rebinding (a page of another site whose name resolves to 127.0.0.1).
"""

import http
import json
import logging
import re
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher
from waitress.utilities import BadRequest, RequestEntityTooLarge

from local.emulator.gateway import MAX_BODY_BYTES, Request, Response

log = logging.getLogger("local-stack")
# A queue of requests waiting for a worker is the bound doing its job under a burst, not a warning.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)
MAX_HEADER_BYTES = 10 * 1024  # API Gateway's HTTP API: request line and headers together
Handle = Callable[[Request], tuple[Response, str | None]]
Wsgi = Callable[..., Iterable[bytes]]
# Also in local/services/dynamodb_local/LoopbackDynamoDBLocal.java (DynamoDB Local's port): keep them alike.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_BARE_LF = re.compile(rb"(?<!\r)\n")
_HEADER_NAME = re.compile(rb"\r\n([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*:")


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


def json_error(status: int, code: str, message: str, *, close: bool = True) -> bytes:
    """A whole HTTP/1.1 answer with the contract's JSON error, written by the server itself."""
    body = json.dumps({"code": code, "message": message}).encode()
    head = (
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n"
    )
    return head.encode("latin-1") + body


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


class StrictParser(HTTPRequestParser):
    """waitress's parser, with what it lets through refused at once: a head with a bare LF (it would
    wait for a CRLF CRLF that never comes), `Content-Length` with `Transfer-Encoding` (request
    smuggling: which one frames the body?), and a chunk announced larger than the body limit (it
    would wait for it)."""

    def received(self, data: bytes) -> int:
        completed: bool = self.__dict__.get("completed", False)
        if self.body_rcv is None and not completed:
            head = self.header_plus + data
            end = head.find(b"\r\n\r\n")
            scanned = head.lstrip(b"\r\n")[: end if end >= 0 else len(head)]
            if _BARE_LF.search(scanned):
                return self._refuse(BadRequest("A bare LF in the request head: lines end with CRLF."), data)
            if end >= 0:
                names = {name.lower() for name in _HEADER_NAME.findall(head[: end + 2])}
                if b"content-length" in names and b"transfer-encoding" in names:
                    return self._refuse(
                        BadRequest("Content-Length and Transfer-Encoding together are refused."), data
                    )
        consumed: int = super().received(data)
        receiver = self.body_rcv
        remainder = getattr(receiver, "chunk_remainder", 0)
        completed = self.__dict__.get("completed", False)
        if not completed and remainder + self.body_bytes_received > self.adj.max_request_body_size:
            self.error = RequestEntityTooLarge(
                f"a chunk exceeds max_body of {self.adj.max_request_body_size}"
            )
            self.completed = True
        return consumed

    def _refuse(self, error: Any, data: bytes) -> int:
        self.parse_header(b"GET / HTTP/1.0\r\n")  # a shape for the error task; the connection closes
        self.error = error
        self.completed = True
        self.headers_finished = True
        return len(data)


class LocalChannel(HTTPChannel):
    """waitress's channel, with a deadline for a request's head and a lingering close."""

    error_task_class = JsonErrorTask
    parser_class = StrictParser
    head_started: float | None = None  # when the first byte of the head being read arrived
    lingering_until: float | None = None  # closing: the answer is sent, the rest is read and dropped

    def received(self, data: bytes) -> bool:
        if self.head_started is None and (self.request is None or not self.request.headers_finished):
            self.head_started = time.monotonic()
        result: bool = super().received(data)
        if self.request is None or self.request.headers_finished:
            self.head_started = None
        return result

    def refuse_now(self, status: int, code: str, message: str) -> None:
        """Answer (from the server's loop) and close: for a request that never completes."""
        answer = json_error(status, code, message)
        with self.outbuf_lock:
            self.outbufs[-1].append(answer)
            self.current_outbuf_count += len(answer)
            self.total_outbufs_len += len(answer)
        self.request = None
        self.head_started = None
        self.close_when_flushed = True

    def readable(self) -> bool:
        return True if self.lingering_until is not None else bool(super().readable())

    def writable(self) -> bool:
        return False if self.lingering_until is not None else bool(super().writable())

    def handle_read(self) -> None:
        if self.lingering_until is None:
            super().handle_read()
            return
        try:
            data = self.socket.recv(65536)
        except OSError:
            data = b""
        if not data or time.monotonic() > self.lingering_until:
            self.close_now()

    def handle_close(self) -> None:
        """Closing after an answer: shut the write side and read what the client still sends until it
        closes (or `linger_seconds`), so the unread bytes do not reset the connection and destroy the
        answer before the client has read it."""
        if self.lingering_until is not None or not self.connected or self.socket is None:
            self.close_now()
            return
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError:
            self.close_now()
            return
        self.will_close = self.close_when_flushed = False
        self.lingering_until = time.monotonic() + self.server.limits.linger_seconds

    def close_now(self) -> None:
        self.lingering_until = None
        HTTPChannel.handle_close(self)


JsonErrorChannel = LocalChannel


class LocalServer(TcpWSGIServer):
    """waitress's TCP server, with the head deadline, the lingering deadline and the connection budget
    enforced in its loop."""

    channel_class = LocalChannel
    limits: "HttpLimits"

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        monotonic = time.monotonic()
        for channel in list(self.active_channels.values()):
            if channel.lingering_until is not None and monotonic > channel.lingering_until:
                channel.close_now()
            elif (
                channel.head_started is not None
                and not channel.requests
                and monotonic - channel.head_started > self.limits.head_seconds
            ):
                channel.refuse_now(
                    408,
                    "request_timeout",
                    f"The request's head was not complete within {self.limits.head_seconds} s.",
                )

    def readable(self) -> bool:
        if self.accepting and len(self.active_channels) >= self.limits.connection_budget:
            self.make_room()
        return bool(super().readable())

    def make_room(self) -> None:
        """Close the quietest connections that are not being answered (lingering ones first, then
        by last activity): a burst of slow or idle sockets cannot hold every place."""
        spare = max(1, self.limits.connection_budget // 20)
        excess = len(self.active_channels) - self.limits.connection_budget + spare
        idle = sorted(
            (
                channel
                for channel in self.active_channels.values()
                if not channel.requests and not channel.total_outbufs_len
            ),
            key=lambda channel: (channel.lingering_until is None, channel.last_activity),
        )
        for channel in idle[:excess]:
            channel.close_now()
        if idle[:excess]:
            log.warning(
                "Over %d connections: closed the %d quietest",
                self.limits.connection_budget,
                len(idle[:excess]),
            )


def poll_once(channels: dict[int, Any], timeout: float) -> None:
    """One turn of the server's loop: waitress's `wasyncore.poll2`, except that an event goes only to
    the channel it was polled for. In poll2 it goes to whatever holds that descriptor when its turn
    comes: a connection closed earlier in the turn frees its descriptor, an accept in the same turn
    reuses it, and the closed socket's event (its reset: POLLHUP, POLLERR, POLLIN) closed the newcomer
    before its request was read (issue 30: 4 of 35 `GET /` of the playground closed without an answer
    under 1,010 trickling sockets, whose budget of 200 makes it close and accept hundreds a second)."""
    polled: dict[int, Any] = {}
    pollster = select.poll()
    for fd, channel in list(channels.items()):
        flags = 0
        if channel.readable():
            flags |= select.POLLIN | select.POLLPRI
        if channel.writable() and not channel.accepting:  # a listening socket is never writable
            flags |= select.POLLOUT
        if flags:
            pollster.register(fd, flags)
            polled[fd] = channel
    try:
        events = pollster.poll(int(timeout * 1000))
    except InterruptedError:
        return
    for fd, flags in events:
        channel = channels.get(fd)
        if channel is not None and channel is polled.get(fd):
            wasyncore.readwrite(channel, flags)


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
