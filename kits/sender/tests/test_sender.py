"""The sender kit against a real local HTTP server that answers as scripted, each delivery checked by
mediagen's own verifier (mediagen.edge.webhook_signature)."""

import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mediagen.core.errors import NotAuthenticated
from mediagen.edge.webhook_signature import verify_delivery
from mediagen_sender import (
    DeliveryError,
    Image,
    WebhookSender,
    completed,
    failed,
    parse_retry_after,
    processing,
)

OLD_SECRET = "whsec_b2xkIHNlY3JldCBvZiB0aGUgc2VuZGVyIGtpdA=="
NEW_SECRET = "whsec_bmV3IHNlY3JldCBvZiB0aGUgc2VuZGVyIGtpdA=="


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedReceiver:
    """Answers each delivery with the next scripted (status, headers, body); then 200."""

    script: list[tuple[int, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[ScriptedReceiver]:
    state = ScriptedReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.received.append(Received(headers, body))
            if state.script:
                status, extra, answer = state.script.pop(0)
            else:
                status, extra, answer = 200, {}, {"job_id": json.loads(body)["job_id"], "outcome": "updated"}
            data = json.dumps(answer).encode()
            self.send_response(status)
            for name, value in {"content-type": "application/json", **extra}.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/api/webhooks/image-completion"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def sender(sleeps: Sleeps, **options: Any) -> WebhookSender:
    return WebhookSender([OLD_SECRET, NEW_SECRET], sleep=sleeps, rng=random.Random(7), **options)


def image(job_id: str, index: int = 0) -> Image:
    return Image(file_path=f"images/{job_id}/{index}.png", size_bytes=1234, format="png", dimensions="64x48")


def error(code: str) -> dict[str, str]:
    return {"code": code, "message": f"{code} (scripted)"}


def verified_id(received: Received, secrets: list[str]) -> str:
    return verify_delivery(received.body, received.headers, secrets)


def test_five_lines_sign_and_send_a_completion(receiver: ScriptedReceiver) -> None:
    # The README's five lines, as a backend developer writes them.
    from mediagen_sender import Image, WebhookSender, completed

    sender = WebhookSender(secrets=[NEW_SECRET])
    files = [Image(file_path="images/job_1/0.png", size_bytes=1482013, format="png", dimensions="1024x1024")]
    delivery = sender.send(receiver.url, completed("job_1", images=files, prompt="Un phare breton 🌅"))

    assert (delivery.status, delivery.outcome, delivery.attempts) == (200, "updated", 1)
    (received,) = receiver.received
    assert verified_id(received, [NEW_SECRET]) == delivery.webhook_id
    assert json.loads(received.body)["data"]["original_prompt"] == "Un phare breton 🌅"
    assert "🌅".encode() in received.body  # UTF-8 kept as is, not \u-escaped


def test_5xx_and_429_are_retried_with_the_same_webhook_id_each_signed_afresh(
    receiver: ScriptedReceiver,
) -> None:
    receiver.script = [
        (503, {}, error("service_unavailable")),
        (500, {}, {"message": "Internal Server Error"}),
        (429, {}, error("too_many_requests")),
    ]
    sleeps = Sleeps()
    delivery = sender(sleeps).send(receiver.url, processing("job_2", 50, user_id="user_1"))

    assert delivery.attempts == 4 and delivery.outcome == "updated"
    ids = {received.headers["webhook-id"] for received in receiver.received}
    assert ids == {delivery.webhook_id}
    for received in receiver.received:  # every attempt verifies with either secret alone
        assert verified_id(received, [OLD_SECRET]) == delivery.webhook_id
        assert verified_id(received, [NEW_SECRET]) == delivery.webhook_id
    # Full jitter under an exponential ceiling: 0.5, 1, 2 s.
    assert len(sleeps) == 3
    assert all(0 <= wait <= 0.5 * 2**n for n, wait in enumerate(sleeps))


def test_each_event_gets_a_new_webhook_id(receiver: ScriptedReceiver) -> None:
    kit = sender(Sleeps())
    first = kit.send(receiver.url, processing("job_3", 20))
    second = kit.send(receiver.url, processing("job_3", 20))
    assert first.webhook_id != second.webhook_id


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "malformed_json"), (401, "invalid_signature"), (409, "conflict"), (413, "payload_too_large"),
     (415, "unsupported_media_type"), (422, "validation_error")],
)  # fmt: skip
def test_other_4xx_are_never_retried_and_carry_the_contracts_code(
    receiver: ScriptedReceiver, status: int, code: str
) -> None:
    receiver.script = [(status, {}, error(code))]
    sleeps = Sleeps()
    with pytest.raises(DeliveryError) as raised:
        sender(sleeps).send(receiver.url, failed("job_4", "Le modèle a refusé"))
    assert (raised.value.status, raised.value.code, raised.value.attempts) == (status, code, 1)
    assert not raised.value.retryable
    assert len(receiver.received) == 1 and sleeps == []


def test_retry_after_seconds_and_dates_are_honoured(receiver: ScriptedReceiver) -> None:
    in_a_minute = formatdate(time.time() + 60, usegmt=True)
    receiver.script = [
        (429, {"retry-after": "7"}, error("too_many_requests")),
        (503, {"retry-after": in_a_minute}, error("service_unavailable")),
    ]
    sleeps = Sleeps()
    sender(sleeps).send(receiver.url, processing("job_5", 80))
    assert sleeps[0] == 7
    assert 55 <= sleeps[1] <= 60


def test_retry_after_is_honoured_in_real_time(receiver: ScriptedReceiver) -> None:
    receiver.script = [(429, {"retry-after": "1"}, error("too_many_requests"))]
    started = time.monotonic()
    delivery = WebhookSender([NEW_SECRET]).send(receiver.url, processing("job_6", 10))
    assert delivery.attempts == 2
    assert time.monotonic() - started >= 1.0


def test_a_retry_after_beyond_the_limit_fails_at_once(receiver: ScriptedReceiver) -> None:
    receiver.script = [(503, {"retry-after": "3600"}, error("service_unavailable"))]
    with pytest.raises(DeliveryError) as raised:
        sender(Sleeps()).send(receiver.url, processing("job_7", 10))
    assert raised.value.code == "service_unavailable" and raised.value.retryable


def test_retries_run_out_with_the_last_answer(receiver: ScriptedReceiver) -> None:
    receiver.script = [(502, {}, error("bad_gateway"))] * 3
    sleeps = Sleeps()
    with pytest.raises(DeliveryError) as raised:
        sender(sleeps, max_attempts=3).send(receiver.url, processing("job_8", 10))
    assert (raised.value.status, raised.value.code, raised.value.attempts) == (502, "bad_gateway", 3)
    assert len(sleeps) == 2 and len(receiver.received) == 3


def test_connection_errors_are_retried_then_reported() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    with pytest.raises(DeliveryError) as raised:
        sender(sleeps, max_attempts=4).send(f"http://127.0.0.1:{port}/hook", processing("job_9", 10))
    assert (raised.value.code, raised.value.status, raised.value.attempts) == ("connection_error", None, 4)
    assert len(sleeps) == 3


def test_backoff_is_capped() -> None:
    kit = sender(Sleeps(), base_delay=1, max_delay=5)
    assert max(kit._backoff(attempt) for attempt in range(1, 50) for _ in range(20)) <= 5


def test_retry_after_parsing() -> None:
    assert parse_retry_after("12") == 12
    assert parse_retry_after(formatdate(1000.0, usegmt=True), now=990.0) == 10
    assert parse_retry_after(formatdate(1000.0, usegmt=True), now=2000.0) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_a_delivery_signed_with_a_retired_secret_is_refused_by_the_verifier(
    receiver: ScriptedReceiver,
) -> None:
    WebhookSender([OLD_SECRET]).send(receiver.url, processing("job_10", 10))
    with pytest.raises(NotAuthenticated):
        verified_id(receiver.received[0], [NEW_SECRET])


def test_video_completion_body(receiver: ScriptedReceiver) -> None:
    from mediagen_sender import Video

    clip = Video(
        file_path="videos/job_11/0.mp4",
        size_bytes=99,
        format="mp4",
        dimensions="640x360",
        duration_seconds=2.5,
        fps=24,
        thumbnail_path="videos/job_11/0.png",
    )
    event = completed("job_11", videos=[clip], model_name="veo", generation_time_seconds=3.2)
    assert event.kind == "video"
    WebhookSender([NEW_SECRET]).send(receiver.url.replace("image", "video"), event)
    body = json.loads(receiver.received[0].body)
    assert body["status"] == "completed" and body["progress"] == 100
    assert body["data"]["videos"][0]["duration_seconds"] == 2.5
    assert body["data"]["metadata"] == {"model_name": "veo", "generation_time_seconds": 3.2}
