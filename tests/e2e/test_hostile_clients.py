"""The local service against hostile clients, over raw sockets: whatever parses as HTTP is answered with
the contract's JSON (a 4xx, or a normal answer), bytes that are not HTTP get a 400 or a closed
connection; never HTML, a 5xx, a hang or a reset; 100 simultaneous connections are all served; memory
stays bounded under a 300 MB stream; idle and slow connections neither hang nor block anyone."""

import http.client
import json
import resource
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
import requests

from tests.e2e.conftest import LocalService, free_port, own_keys, processes_with, run_service
from tests.support import completion_payload, signed_headers

pytestmark = pytest.mark.e2e
IDLE_SECONDS = 2
ANSWER_SECONDS = 60  # longer than this without an answer is a hang (a loaded 2-core CI machine is slow)
# 100 deliveries queue for 4 sandboxes: on 2 cores shared with other work a delivery took up to 3 s,
# so the last answer may come a minute or two after the first; no answer in 5 minutes is a hang.
BURST_SECONDS = 300


PORTS = ("PORT", "PLAYGROUND_PORT", "LOCAL_AWS_PORT")  # the API, the playground, the embedded AWS
EVIL = "https://evil.example.com"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, jwks_file: Path) -> Iterator[LocalService]:
    # The development key (the playground mints tokens with it); the test's webhook secrets
    keys = {k: v for k, v in own_keys(jwks_file).items() if k not in ("AUTH_ISSUER", "AUTH_JWKS_URL")}
    yield from run_service(
        tmp_path_factory.mktemp("hostile"),
        LOCAL_GENERATOR="off",
        LOCAL_IDLE_SECONDS=str(IDLE_SECONDS),
        LOCAL_AWS_PORT=str(free_port()),
        **keys,
    )


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def assert_contract_json(self) -> dict[str, Any]:
        """A 2xx or a 4xx, JSON, and an error has its `code` and `message`: never HTML or a 5xx."""
        assert self.status < 500, (self.status, self.body[:300])
        assert self.headers.get("content-type", "").startswith("application/json"), (self.headers, self.body)
        assert b"<html" not in self.body.lower() and b"traceback" not in self.body.lower()
        document: dict[str, Any] = json.loads(self.body)
        if self.status >= 400:
            assert isinstance(document.get("code"), str) and isinstance(document.get("message"), str)
        return document


def port_number(service: LocalService, port: str) -> int:
    """The port `make run` serves under that setting. The embedded AWS's is the one the service reports,
    so that these tests reach it on a revision that could not choose it (they reproduce its findings
    there); the test of `LOCAL_AWS_PORT` checks that the reported port is the chosen one."""
    if port == "LOCAL_AWS_PORT":
        return int(str(service.info()["aws_endpoint"]).rsplit(":", 1)[1])
    return int(service.env[port])


def connect(service: LocalService, port: str = "PORT", timeout: float = ANSWER_SECONDS) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port_number(service, port)), timeout=timeout)


def read_answer(sock: socket.socket) -> Answer | None:
    """The answer on `sock`, or None when the server closed the connection without one. A timeout
    (a hang) or a reset raises."""
    response = http.client.HTTPResponse(sock)
    try:
        response.begin()
    except http.client.RemoteDisconnected:
        return None
    return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())


def host(service: LocalService, port: str = "PORT") -> bytes:
    """The `Host` line a client of this port sends (every port refuses other names)."""
    return b"Host: 127.0.0.1:%d" % port_number(service, port)


def exchange(
    service: LocalService, data: bytes, port: str = "PORT", timeout: float = ANSWER_SECONDS
) -> Answer | None:
    """`data`, whose `Host: x` stands for the port's own host, sent on a new connection; the answer."""
    with connect(service, port, timeout) as sock:
        sock.sendall(data.replace(b"Host: x", host(service, port)))
        return read_answer(sock)


def group_rss_kb(service: LocalService) -> int:
    """Resident memory of the service and every process it started (its sandboxes, the forkserver)."""
    total = 0
    for pid in processes_with(service.marker):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def threads_of(service: LocalService) -> int:
    assert service.process is not None
    for line in Path(f"/proc/{service.process.pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads")


def server_rss_kb(service: LocalService) -> int:
    assert service.process is not None
    for line in Path(f"/proc/{service.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


STATUS = b"/api/images/job_hostile/status"


@pytest.mark.parametrize(
    ("name", "request_bytes", "expected"),
    [
        # A path the API has, with a method it has not: the `$default` route (UnknownRouteFunction) answers
        # 405 with an Allow header, as deployed.
        ("unknown method", b"BREW " + STATUS + b" HTTP/1.1\r\nHost: x\r\n\r\n", {405}),
        ("another unknown method", b"PROPFIND / HTTP/1.1\r\nHost: x\r\n\r\n", {404}),
        ("HTTP/2.0 request line", b"GET " + STATUS + b" HTTP/2.0\r\nHost: x\r\n\r\n", {401}),
        ("oversize URI", b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {431}),
        ("oversize header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n", {431}),
        (
            "many headers",
            b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(2000)) + b"\r\n",
            {431},
        ),
        (
            "Content-Length: -1",
            b"POST /api/webhooks/image-completion HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}",
            {400},
        ),
        (
            "Content-Length: abc",
            b"POST /api/webhooks/image-completion HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
            {400},
        ),
        (
            "two different Content-Lengths",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            {400},
        ),
        (
            "bad chunk size",
            b"POST /api/webhooks/image-completion HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nabc\r\n0\r\n\r\n",
            {400},
        ),
        (
            "unknown transfer coding",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            {400},
        ),
        (
            "body over 10 MB announced",
            b"POST /api/webhooks/image-completion HTTP/1.1\r\nHost: x\r\nContent-Length: 11000000\r\n\r\n",
            {413},
        ),
        ("lower-case method", b"get / HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
        ("bare LF in a header", b"GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", {400}),
        ("header without a colon", b"GET / HTTP/1.1\r\nHost: x\r\nnonsense\r\n\r\n", {400}),
        ("absolute-form target", b"GET http://127.0.0.1" + STATUS + b" HTTP/1.1\r\nHost: x\r\n\r\n", {401}),
    ],
)
def test_hostile_requests_get_a_contract_answer(
    service: LocalService, name: str, request_bytes: bytes, expected: set[int]
) -> None:
    answer = exchange(service, request_bytes)
    assert answer is not None, f"{name}: closed without an answer"
    answer.assert_contract_json()
    assert answer.status in expected, (name, answer.status, answer.body)


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n",  # a TLS hello
        b"HELLO\r\n\r\n",
        b"\r\n\r\n\r\n",
        b"\x00" * 100 + b"\r\n\r\n",
    ],
)
def test_bytes_that_are_not_http_get_a_400_or_a_closed_connection(
    service: LocalService, garbage: bytes
) -> None:
    answer = exchange(service, garbage)
    if answer is not None:
        assert answer.status == 400
        assert b"<html" not in answer.body.lower()


@pytest.mark.parametrize(
    ("port", "path"), [("PORT", b"/api/webhooks/image-completion"), ("PLAYGROUND_PORT", b"/token")]
)
def test_a_huge_body_is_refused_while_reading_and_memory_stays_bounded(
    service: LocalService, port: str, path: bytes
) -> None:
    # Given the resident memory of the service's processes after they have served requests
    before, before_group = server_rss_kb(service), group_rss_kb(service)
    chunk = b"x" * (1024 * 1024)
    framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    refused: list[Answer | None] = []
    for head, data in (
        (b"Transfer-Encoding: chunked\r\n", framed),
        (b"Content-Length: -1\r\n", chunk),
    ):
        # When a client streams 300 MB (chunked, or after an invalid length)
        with connect(service, port) as sock:
            sock.sendall(b"POST " + path + b" HTTP/1.1\r\n" + host(service, port) + b"\r\n" + head + b"\r\n")
            sent = 0
            try:
                while sent < 300 * len(chunk):
                    sock.sendall(data)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered and closed: the rest is not read
            try:
                refused.append(read_answer(sock))
            except ConnectionResetError:
                refused.append(None)  # it answered, but the unread bytes reset the connection
    after, after_group = server_rss_kb(service), group_rss_kb(service)
    print(
        f"{port}: service RSS {before} -> {after} kB, with its processes {before_group} -> {after_group} kB"
    )

    # Then it is refused (413 or 400) before 300 MB are read, and memory hardly moves
    for answer in refused:
        if answer is not None:
            answer.assert_contract_json()
            assert answer.status in (400, 413)
    assert after - before < 40 * 1024, f"resident memory grew from {before} kB to {after} kB"
    assert after_group - before_group < 60 * 1024, (
        f"the processes grew from {before_group} kB to {after_group} kB"
    )


def test_idle_connections_are_closed_and_do_not_block_others(service: LocalService) -> None:
    idle = [connect(service) for _ in range(50)]
    try:
        answer = requests.get(f"{service.base}/api/images/job_x/status", timeout=ANSWER_SECONDS)
        assert answer.status_code == 401
        for sock in idle:
            # closed by the server's idle deadline (2 s): nothing else closes a silent connection, and
            # a socket still open after ANSWER_SECONDS raises (a hang)
            assert sock.recv(1) == b""
    finally:
        for sock in idle:
            sock.close()


def test_a_slow_client_is_served_and_blocks_nobody(service: LocalService) -> None:
    request = b"GET /api/images/job_slow/status HTTP/1.1\r\n%s\r\nConnection: close\r\n\r\n" % host(service)
    with connect(service) as slow:
        for index, byte in enumerate(request):
            slow.sendall(bytes([byte]))
            # Meanwhile, everyone else is served. Not timed: were they queued behind the slow request,
            # which waits for these answers to go on, it would be cut by the head deadline (408, not 401)
            if index % 10 == 0:
                quick = requests.get(f"{service.base}/api/images/job_x/status", timeout=ANSWER_SECONDS)
                assert quick.status_code == 401
            time.sleep(0.01)
        answer = read_answer(slow)
    assert answer is not None and answer.status == 401
    answer.assert_contract_json()


def test_a_hundred_simultaneous_deliveries_are_all_served(service: LocalService) -> None:
    # Given 100 clients, each with its own connection and its own signed delivery
    clients = 100
    requests_bytes = []
    for index in range(clients):
        body = json.dumps(completion_payload(f"job_burst_{index}", user_id="user_burst", images=1))
        headers = signed_headers(body)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        requests_bytes.append(
            (
                f"POST /api/webhooks/image-completion HTTP/1.1\r\nHost: 127.0.0.1:{service.env['PORT']}\r\n"
                "Connection: close\r\n"
                f"Content-Length: {len(body.encode())}\r\n{head}\r\n{body}"
            ).encode()
        )
    barrier = threading.Barrier(clients)
    results: list[Any] = [None] * clients

    def client(index: int) -> None:
        barrier.wait()
        try:
            # When they all connect and send at the same moment
            with socket.create_connection(
                ("127.0.0.1", int(service.env["PORT"])), timeout=BURST_SECONDS
            ) as sock:
                sock.sendall(requests_bytes[index])
                results[index] = read_answer(sock)
        except OSError as error:
            results[index] = error

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BURST_SECONDS + 30)

    # Then none is reset or left unanswered, and every one created its job
    failures = [r for r in results if not isinstance(r, Answer)]
    assert failures == [], f"{len(failures)} of {clients} failed: {Counter(map(repr, failures))}"
    outcomes = Counter((r.status, r.assert_contract_json().get("outcome")) for r in results)
    assert outcomes == {(200, "created"): clients}


# --- Every port: Host, Origin, refusals answered whole, framing, deadlines, budget ------------------


@pytest.mark.parametrize("port", PORTS)
def test_every_port_refuses_a_foreign_host(service: LocalService, port: str) -> None:
    # Given a page of another site whose name was made to resolve to 127.0.0.1 (DNS rebinding)
    number = port_number(service, port)
    for request in (
        f"GET /_local/info HTTP/1.1\r\nHost: evil.example.com:{number}\r\n\r\n",
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1.evil.example.com:{number}\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # not this port
        "GET / HTTP/1.0\r\n\r\n",  # no Host at all
    ):
        # When it sends its own name as Host, Then the port refuses it, in JSON
        answer = exchange(service, request.encode(), port)
        assert answer is not None
        assert answer.status == 421, (request, answer)
        assert answer.assert_contract_json()["code"] == "misdirected_request"


def test_the_rebinding_request_gets_no_token_and_no_local_info(service: LocalService) -> None:
    playground, api = service.env["PLAYGROUND_PORT"], service.env["PORT"]
    # When a rebound page asks the playground for a token for user_2, and the API for its description
    minted = exchange(
        service,
        f"POST /token HTTP/1.1\r\nHost: evil.example.com:{playground}\r\nContent-Type: text/plain\r\n"
        'Content-Length: 18\r\n\r\n{"user": "user_2"}'.encode(),
        "PLAYGROUND_PORT",
    )
    info = exchange(service, f"GET /_local/info HTTP/1.1\r\nHost: evil.example.com:{api}\r\n\r\n".encode())
    # Then neither answers
    for answer in (minted, info):
        assert answer is not None and answer.status == 421
        assert b"token" not in answer.body and b"aws_endpoint" not in answer.body
    # While the same requests with the port's own name are served
    local = requests.get(f"{service.base}/_local/info", timeout=ANSWER_SECONDS)
    assert local.status_code == 200 and "aws_endpoint" in local.json()


def test_a_page_of_another_site_cannot_mint_a_token_or_read_local_routes(service: LocalService) -> None:
    playground = f"http://127.0.0.1:{service.env['PLAYGROUND_PORT']}"
    # When another site's page posts a form-like request (text/plain: no preflight) to /token
    foreign = requests.post(
        f"{playground}/token",
        data='{"user": "user_2"}',
        headers={"Origin": EVIL, "Content-Type": "text/plain"},
        timeout=ANSWER_SECONDS,
    )
    # Then it is refused; the playground's own page is served
    assert foreign.status_code == 403 and foreign.json()["code"] == "origin_not_allowed"
    assert "token" not in foreign.json() and "access-control-allow-origin" not in foreign.headers
    own = requests.post(
        f"{playground}/token", json={"user": "user_2"}, headers={"Origin": playground}, timeout=ANSWER_SECONDS
    )
    assert own.status_code == 200 and own.json()["user"] == "user_2"
    # And the API's own routes refuse that site too
    info = requests.get(f"{service.base}/_local/info", headers={"Origin": EVIL}, timeout=ANSWER_SECONDS)
    assert info.status_code == 403 and "aws_endpoint" not in info.text


@pytest.mark.parametrize(
    ("name", "request_bytes", "expected"),
    [
        ("preflight", b"OPTIONS /token HTTP/1.1\r\nHost: x\r\nOrigin: " + EVIL.encode() + b"\r\n\r\n", 204),
        ("PUT", b"PUT /token HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
        ("DELETE", b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        ("unknown method", b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        ("oversize URI", b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431),
        ("oversize header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n", 431),
        ("Content-Length: abc", b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}", 400),
        ("body over 4 KB", b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413),
        ("unknown page", b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    ],
)
def test_the_playground_answers_what_it_refuses_in_json(
    service: LocalService, name: str, request_bytes: bytes, expected: int
) -> None:
    answer = exchange(service, request_bytes, "PLAYGROUND_PORT")
    assert answer is not None, name
    assert answer.status == expected, (name, answer)
    assert "access-control-allow-origin" not in answer.headers  # never to another site
    if expected != 204:
        answer.assert_contract_json()


def aws_endpoint(service: LocalService) -> str:
    return f"http://127.0.0.1:{port_number(service, 'LOCAL_AWS_PORT')}"


def test_the_embedded_aws_is_on_the_chosen_port_and_serves_the_service(service: LocalService) -> None:
    assert service.info()["aws_endpoint"] == f"http://127.0.0.1:{service.env['LOCAL_AWS_PORT']}"
    tables = boto3_client(service, "dynamodb").list_tables()["TableNames"]
    assert tables, "the template's tables"


def boto3_client(service: LocalService, name: Literal["dynamodb"]) -> Any:
    import boto3

    return boto3.client(
        name,
        endpoint_url=aws_endpoint(service),
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def deliver(service: LocalService, job_id: str) -> requests.Response:
    """A signed `processing` delivery that creates `job_id`: it reads and writes the tables."""
    body = json.dumps(completion_payload(job_id, user_id="user_aws_page", status="processing", images=0))
    return requests.post(
        f"{service.base}/api/webhooks/image-completion",
        data=body,
        headers={**signed_headers(body), "Content-Type": "application/json"},
        timeout=ANSWER_SECONDS,
    )


def test_a_web_page_can_neither_read_nor_reset_the_embedded_aws(service: LocalService) -> None:
    # Given the local service with its tables, serving a delivery
    aws = aws_endpoint(service)
    tables = boto3_client(service, "dynamodb").list_tables()["TableNames"]
    assert deliver(service, "job_aws_page_before").status_code == 200
    # When another site's page reads the data dump and a bucket, preflights, and posts a form (text/plain:
    # no preflight) to moto's reset
    dump = requests.get(f"{aws}/moto-api/data.json", headers={"Origin": EVIL}, timeout=ANSWER_SECONDS)
    preflight = requests.options(
        f"{aws}/",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"},
        timeout=ANSWER_SECONDS,
    )
    reset = requests.post(
        f"{aws}/moto-api/reset", data="x", headers={"Origin": EVIL, "Content-Type": "text/plain"}, timeout=60
    )
    s3_read = requests.get(f"{aws}/mediagen-local-media", headers={"Origin": EVIL}, timeout=ANSWER_SECONDS)
    # Then every one is refused in JSON, with no CORS header that would let the page read the answer
    findings: list[str] = []
    for name, answer in (
        ("data dump", dump),
        ("preflight", preflight),
        ("reset", reset),
        ("bucket", s3_read),
    ):
        allowed = {h: v for h, v in answer.headers.items() if h.lower().startswith("access-control-")}
        if allowed:
            findings.append(f"{name}: the page may read the answer ({allowed})")
        if answer.status_code != 403 or not answer.headers.get("Content-Type", "").startswith(
            "application/json"
        ):
            findings.append(f"{name}: answered {answer.status_code} {answer.text[:80]!r}")
        elif answer.json()["code"] != "origin_not_allowed":
            findings.append(f"{name}: refused with {answer.json()}")
    # And nothing was wiped: the tables are all there and the service still serves deliveries
    if (left := boto3_client(service, "dynamodb").list_tables()["TableNames"]) != tables:
        findings.append(f"wiped: {len(tables)} tables before, {len(left)} after")
    if (after := deliver(service, "job_aws_page_after")).status_code != 200:
        findings.append(f"a delivery after the page's requests: {after.status_code} {after.text[:80]!r}")
    assert not findings, "\n".join(findings)
    # And moto's own API is not served at all, even without an Origin
    for method in ("GET", "POST"):
        for path in ("/moto-api/data.json", "/moto-api/reset", "/moto-api/"):
            answer = requests.request(method, f"{aws}{path}", timeout=ANSWER_SECONDS)
            assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    assert requests.get(f"{service.base}/api/images/job_x/status", timeout=ANSWER_SECONDS).status_code == 401


# A body larger than what the kernel holds for an unread connection (the sender's buffer and the
# receiver's, 4 MB and up to 32 MB with autotuning on this machine): the client is still sending it when
# the server has answered, so a server that closes with the body unread resets the connection under the
# client's feet, every time.
UNREAD_BODY = 64 * 1024 * 1024


@pytest.mark.parametrize("port", PORTS)
def test_a_refusal_is_answered_whole_before_the_close(service: LocalService, port: str) -> None:
    # Given a client that posts a large body with an oversize header, as clients do: all of it, then it
    # reads the answer
    chunk = b"x" * (1024 * 1024)
    with connect(service, port, timeout=20) as sock:
        head = b"POST / HTTP/1.1\r\n%s\r\nContent-Length: %d\r\nX-Big: %s\r\n\r\n"
        sock.sendall(head % (host(service, port), UNREAD_BODY, b"b" * 20_000))
        # When it sends the body the server will not use, Then it is not reset while sending
        for _ in range(UNREAD_BODY // len(chunk)):
            sock.sendall(chunk)
        # And it reads the whole answer
        answer = read_answer(sock)
    assert answer is not None and answer.status == 431
    answer.assert_contract_json()


SMUGGLED = (
    b"POST /api/webhooks/image-completion HTTP/1.1\r\nHost: x\r\nContent-Length: 48\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /_local/info HTTP/1.1\r\nHost: x\r\n\r\n"
)


@pytest.mark.parametrize(
    ("name", "request_bytes", "expected"),
    [
        ("Content-Length with Transfer-Encoding", SMUGGLED, 400),
        ("a bare-LF request", b"GET /api/images/x/status HTTP/1.1\nHost: x\n\n", 400),
        (
            "a chunk larger than the body limit",
            b"POST /api/webhooks/image-completion HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"fffffffff\r\nabc",
            413,
        ),
    ],
)
@pytest.mark.parametrize("port", PORTS)
def test_bad_framing_is_refused_and_closed_at_once(
    service: LocalService, port: str, name: str, request_bytes: bytes, expected: int
) -> None:
    with connect(service, port) as sock:
        sock.sendall(request_bytes.replace(b"Host: x", host(service, port)))
        answer = read_answer(sock)
        assert answer is not None, name
        rest = sock.recv(65536)  # closed: nothing after the refusal (no smuggled request answered)
    assert answer.status == expected, (name, answer)
    answer.assert_contract_json()
    assert rest == b"", rest[:200]
    # Not timed: the idle deadline here (2 s) is too near "at once" for a time to tell them apart on a
    # loaded machine; the refusal's status says it was read as bad framing, and the close came after it


@pytest.mark.parametrize("port", PORTS)
def test_a_head_must_be_complete_within_seconds_of_its_first_byte(service: LocalService, port: str) -> None:
    # Given a client that sends its request line and then a header byte by byte, forever
    started = time.monotonic()
    with connect(service, port) as sock:
        sock.sendall(b"GET /api/images/x/status HTTP/1.1\r\n" + host(service, port) + b"\r\nX-Slow: ")
        answer = None
        while answer is None and time.monotonic() - started < ANSWER_SECONDS:
            try:
                sock.sendall(b"a")
            except OSError:
                break
            ready = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) if _readable(sock) else b""
            if ready:
                answer = read_answer(sock)
            time.sleep(0.5)  # more often than the idle timeout: only a head deadline stops it
    assert answer is not None, "no answer: the slow head was never cut off"
    assert answer.status == 408
    answer.assert_contract_json()
    # Cut off by the head deadline (5 s), not by another bound: 30 s leaves a loaded machine 25 s
    assert time.monotonic() - started < 30


def _readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])


@pytest.mark.parametrize("port", PORTS)
def test_idle_sockets_hold_no_thread_and_are_closed(service: LocalService, port: str) -> None:
    threads = threads_of(service)
    idle = [connect(service, port) for _ in range(500)]
    try:
        time.sleep(0.5)
        during = threads_of(service)
        for sock in idle:
            assert sock.recv(1) == b""  # closed by the server after LOCAL_IDLE_SECONDS
    finally:
        for sock in idle:
            sock.close()
    assert during - threads < 10, f"{threads} threads before 500 idle sockets, {during} with them"


SLOW_SOCKETS = 1010
NORMAL_ANSWERS = 10


@dataclass
class Trickle:
    sock: socket.socket
    sent: int = 0


@pytest.mark.parametrize(
    ("port", "path", "expected"),
    [
        ("PORT", "/api/images/job_x/status", 401),
        # The playground's budget is 200: 810 sockets over it, so it closes and accepts hundreds of
        # connections a second (issue 30: 4 of 35 `GET /` were closed without an answer)
        ("PLAYGROUND_PORT", "/", 200),
    ],
)
def test_a_thousand_slow_sockets_lock_nobody_out(
    service: LocalService, port: str, path: str, expected: int
) -> None:
    # This process (the clients) needs more open files than the 1,024 many systems start one with; the
    # limit is raised here, not by the service's own helper, so the test runs against any revision
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = SLOW_SOCKETS + 1024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard)
        )
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] > SLOW_SOCKETS + 100, "this test opens 1,010 sockets"
    # Given 1,010 sockets that trickle a request head, a byte a second each (faster than the idle
    # timeout), reconnecting whenever the server closes one, for 15 s (past the 5 s head deadline that
    # cuts them) and until a normal client has been answered NORMAL_ANSWERS times
    request = b"GET %s HTTP/1.1\r\n%s\r\nX-Slow: %s" % (path.encode(), host(service, port), b"a" * 100)
    address = ("127.0.0.1", port_number(service, port))
    url = f"http://127.0.0.1:{port_number(service, port)}{path}"

    def opened() -> socket.socket:
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(address)
        return sock

    slow = [Trickle(opened()) for _ in range(SLOW_SOCKETS)]
    latencies: list[float] = []
    failures: list[str] = []
    stop = threading.Event()

    def normal_clients() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                answer = requests.get(url, timeout=ANSWER_SECONDS)
                if answer.status_code != expected:
                    failures.append(f"{answer.status_code} {answer.text[:100]}")
            except requests.RequestException as error:
                failures.append(repr(error))
            latencies.append(time.monotonic() - started)
            time.sleep(0.3)

    client = threading.Thread(target=normal_clients)
    reconnected = 0
    try:
        client.start()
        # Locked out, the normal client gets no answers while the slow sockets go on: its answers are
        # counted, not timed. The bound only ends a locked-out run (10 answers take about 4 s quiet).
        at_least, deadline = time.monotonic() + 15, time.monotonic() + 4 * 60
        while (
            (time.monotonic() < at_least or len(latencies) < NORMAL_ANSWERS)
            and time.monotonic() < deadline
            and not failures
        ):
            tick = time.monotonic()
            for entry in slow:
                at = entry.sent % len(request)
                try:
                    entry.sock.send(request[at : at + 1])
                    entry.sent += 1
                except BlockingIOError:
                    pass  # not connected yet (still in the backlog)
                except OSError:
                    entry.sock.close()
                    entry.sock, entry.sent = opened(), 0
                    reconnected += 1
            time.sleep(max(0.0, 1 - (time.monotonic() - tick)))
    finally:
        stop.set()
        client.join(ANSWER_SECONDS)
        for entry in slow:
            entry.sock.close()
    slowest = max(latencies, default=0.0)
    print(f"normal requests: {len(latencies)}, slowest {slowest:.2f} s; slow sockets reopened {reconnected}")

    # Then every normal request was answered (none closed unanswered), while the slow sockets went on
    assert failures == [], f"{len(failures)} of {len(latencies)}: {Counter(failures).most_common(3)}"
    assert len(latencies) >= NORMAL_ANSWERS, f"{len(latencies)} answers in 4 minutes: locked out"
