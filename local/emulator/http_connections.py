"""waitress's connections, hardened for the local service's HTTP server (local/emulator/http_server.py):
whatever a client sends, the answer is the contract's JSON or a closed connection.

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
- The server's loop (`poll_once`) gives an event only to the connection it was polled for.
"""

import http
import json
import logging
import re
import select
import socket
import time
from typing import TYPE_CHECKING, Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask
from waitress.utilities import BadRequest, RequestEntityTooLarge

if TYPE_CHECKING:
    from local.emulator.http_server import HttpLimits

log = logging.getLogger("local-stack")
_BARE_LF = re.compile(rb"(?<!\r)\n")
_HEADER_NAME = re.compile(rb"\r\n([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*:")


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
