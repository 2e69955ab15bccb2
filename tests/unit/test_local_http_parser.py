"""The local service's request parser (waitress's, with what it let through refused at once): each
rule on bytes, without a server. The same rules over real sockets: tests/e2e/test_hostile_clients.py."""

import pytest
from waitress.adjustments import Adjustments

from local.emulator.gateway import MAX_BODY_BYTES
from local.emulator.http_connections import StrictParser


def parsed(*pieces: bytes) -> StrictParser:
    """The parser after `pieces` arrived one after the other (as separate reads)."""
    parser = StrictParser(Adjustments(max_request_body_size=MAX_BODY_BYTES))
    for piece in pieces:
        while piece and not parser.completed:
            piece = piece[parser.received(piece) :]
    return parser


HEAD = b"POST /api/webhooks/image-completion HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n"


@pytest.mark.parametrize(
    ("name", "pieces", "code"),
    [
        ("bare-LF request", [b"GET / HTTP/1.1\nHost: 127.0.0.1:3000\n\n"], 400),
        ("bare LF split across reads", [b"GET / HTTP/1.1\r\nHost: a\r", b"\nX: b\n", b"\r\n\r\n"], 400),
        (
            "Content-Length and Transfer-Encoding",
            [HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"],
            400,
        ),
        ("the same, other case", [HEAD + b"transfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n"], 400),
        (
            "a chunk over the body limit",
            [HEAD + b"Transfer-Encoding: chunked\r\n\r\n", b"fffffffff\r\nabc"],
            413,
        ),
        ("a body over the limit", [HEAD + b"Content-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1)], 413),
    ],
)
def test_what_waitress_let_through_is_refused_at_once(name: str, pieces: list[bytes], code: int) -> None:
    parser = parsed(*pieces)
    assert parser.completed, f"{name}: still waiting for bytes that will never come"
    assert parser.error is not None and parser.error.code == code, (name, parser.error)


@pytest.mark.parametrize(
    "pieces",
    [
        [b"GET /api/images/job_1/status HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n\r\n"],
        [b"\r\n", b"GET / HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n\r\n"],  # a CRLF between pipelined requests
        [HEAD + b"Content-Length: 2\r\n\r\n{}"],
        [HEAD + b"Transfer-Encoding: chunked\r\n\r\n", b"2\r\n{}\r\n", b"0\r\n\r\n"],
        [HEAD + b"X-Content-Length-Note: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"],
    ],
)
def test_well_formed_requests_still_parse(pieces: list[bytes]) -> None:
    parser = parsed(*pieces)
    assert parser.completed and parser.error is None
