"""POST /api/webhooks/image-completion refuses what it must, through the real handler against moto.

A delivery that no active secret signed gets a 401 `invalid_signature` before DynamoDB is called at all;
a signed delivery with a hostile or invalid body gets a 400, 413, 415 or 422 with a JSON error body, never
a 5xx; and in both cases nothing is written.
"""

import base64
import copy
import hashlib
import hmac
import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import standardwebhooks.webhooks
from standardwebhooks.webhooks import Webhook

from completion_webhook.app import lambda_handler
from mediagen.completion_webhook import MAX_WEBHOOK_BYTES
from mediagen.errors import NotAuthenticated
from mediagen.models import Generation, Notification
from mediagen.payloads import MAX_FILES
from mediagen.webhook_signature import verify_delivery
from tests.conftest import reset_process_state
from tests.support import (
    RETIRED_SECRET,
    WEBHOOK_SECRET,
    completion_payload,
    http_event,
    response_json,
    signed_headers,
    webhook_event,
)

pytestmark = pytest.mark.usefixtures("aws")

PATH = "/api/webhooks/image-completion"
JOB = "job_rejected"
UNKNOWN_SECRET = "whsec_" + base64.b64encode(b"a secret the backend was never given").decode()
DROP = object()  # marks a field to remove from a payload

Event = dict[str, Any]


# --- Building deliveries ---------------------------------------------------------------------------


def payload_with(**fields: Any) -> dict[str, Any]:
    """A valid completion of JOB for user_a, with top-level fields replaced (or dropped with DROP)."""
    payload = completion_payload(JOB, user_id="user_a")
    for name, value in fields.items():
        if value is DROP:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


def image_with(**fields: Any) -> dict[str, Any]:
    """A valid completion of JOB whose first image has some fields replaced."""
    payload = completion_payload(JOB, user_id="user_a")
    payload["data"]["images"][0].update(fields)
    return payload


def data_with(**fields: Any) -> dict[str, Any]:
    """A valid completion of JOB whose `data` has some fields replaced (or dropped with DROP)."""
    payload = completion_payload(JOB, user_id="user_a")
    for name, value in fields.items():
        if value is DROP:
            payload["data"].pop(name, None)
        else:
            payload["data"][name] = value
    return payload


def as_json(payload: Any, **dumps_options: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, **dumps_options)


GOOD_BODY = as_json(completion_payload(JOB, user_id="user_a", prompt="Un phare breton, été 🌅"))


def sign_bytes(
    body: bytes, *, secret: str = WEBHOOK_SECRET, webhook_id: str = "msg_raw", at: int | None = None
) -> dict[str, str]:
    """Standard Webhooks headers computed over raw bytes (which need not be UTF-8), by hand."""
    timestamp = str(at if at is not None else int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{base64.b64encode(digest).decode()}",
    }


def seconds_from_now(seconds: int, *, beyond_tolerance: bool) -> datetime:
    """A whole-second timestamp `seconds` away from now, rounded away from now when it must stay beyond
    the 300 s tolerance and towards now when it must stay within, so the time the call itself takes
    (under a second) cannot change the verdict."""
    now = time.time()
    away_from_now = (seconds > 0) == beyond_tolerance
    return datetime.fromtimestamp((math.ceil(now) if away_from_now else math.floor(now)) + seconds, UTC)


def delivery(body: str, headers: dict[str, str]) -> Event:
    return http_event("POST", PATH, body=body, headers=headers)


def signed_then(**header_changes: str) -> Event:
    """GOOD_BODY correctly signed, then some webhook headers replaced (underscores for dashes)."""
    headers = signed_headers(GOOD_BODY)
    headers.update({name.replace("_", "-"): value for name, value in header_changes.items()})
    return delivery(GOOD_BODY, headers)


def good_signature() -> str:
    return signed_headers(GOOD_BODY, webhook_id="msg_fixed", timestamp=datetime.now(UTC))["webhook-signature"]


def with_signature_header(signature: str) -> Event:
    """GOOD_BODY signed as msg_fixed now, sent with the given webhook-signature header."""
    headers = signed_headers(GOOD_BODY, webhook_id="msg_fixed", timestamp=datetime.now(UTC))
    headers["webhook-signature"] = signature
    return delivery(GOOD_BODY, headers)


def wrong_signature() -> str:
    """Well-formed (v1, 32 bytes of base64), but not the HMAC of this message."""
    return "v1," + base64.b64encode(b"\x00" * 32).decode()


def body_changed_after_signing() -> Event:
    headers = signed_headers(GOOD_BODY)
    tampered = GOOD_BODY.replace("1482013", "1482014", 1)
    assert (
        len(tampered) == len(GOOD_BODY) and sum(a != b for a, b in zip(tampered, GOOD_BODY, strict=True)) == 1
    )
    return delivery(tampered, headers)


def reserialised_after_signing(**dumps_options: Any) -> Event:
    """Signed over one serialisation of the payload, sent as another serialisation of the same JSON."""
    payload = json.loads(GOOD_BODY)
    sent = json.dumps(payload, **{"ensure_ascii": False, **dumps_options})
    assert json.loads(sent) == payload and sent != GOOD_BODY
    return delivery(sent, signed_headers(GOOD_BODY))


# --- Assertions -------------------------------------------------------------------------------------


def assert_refused(response: dict[str, Any], status: int, code: str) -> None:
    """The contract's error answer: the status, a JSON body with a string code and message, no trace."""
    assert response["statusCode"] == status, response["body"]
    assert response["headers"]["Content-Type"] == "application/json"
    body = response_json(response)
    assert isinstance(body["code"], str) and body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response["body"]


def assert_nothing_written() -> None:
    assert list(Generation.scan()) == []
    assert list(Notification.scan()) == []


def assert_created(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 200, response["body"]
    assert response_json(response) == {"job_id": JOB, "outcome": "created"}
    assert Generation.get(JOB, consistent_read=True).author_id == "user_a"


# --- 1. Signature -----------------------------------------------------------------------------------

SIGNATURE_REJECTIONS = [
    pytest.param(lambda: delivery(GOOD_BODY, {"content-type": "application/json"}), id="unsigned"),
    pytest.param(lambda: webhook_event(GOOD_BODY, secret=UNKNOWN_SECRET), id="wrong_secret"),
    pytest.param(lambda: webhook_event(GOOD_BODY, secret=RETIRED_SECRET), id="signed_only_by_retired_secret"),
    pytest.param(
        lambda: webhook_event(GOOD_BODY, timestamp=seconds_from_now(-301, beyond_tolerance=True)),
        id="timestamp_301s_in_the_past",
    ),
    pytest.param(
        lambda: webhook_event(GOOD_BODY, timestamp=seconds_from_now(301, beyond_tolerance=True)),
        id="timestamp_301s_in_the_future",
    ),
    pytest.param(
        lambda: signed_then(webhook_timestamp=str(int(time.time()) * 1000)), id="timestamp_in_milliseconds"
    ),
    pytest.param(lambda: signed_then(webhook_timestamp="abc"), id="timestamp_abc"),
    pytest.param(lambda: signed_then(webhook_timestamp="1e30"), id="timestamp_1e30"),
    pytest.param(lambda: signed_then(webhook_timestamp="nan"), id="timestamp_nan"),
    pytest.param(
        lambda: with_signature_header(good_signature().replace(",", "", 1)), id="signature_without_comma"
    ),
    pytest.param(lambda: with_signature_header("v1,a,b"), id="signature_with_two_commas"),
    pytest.param(lambda: with_signature_header("v1,%%%not base64%%%"), id="signature_not_base64"),
    pytest.param(lambda: with_signature_header("v1,"), id="signature_empty_after_version"),
    pytest.param(lambda: with_signature_header(good_signature().replace("v1,", "v2,")), id="good_hmac_as_v2"),
    pytest.param(lambda: with_signature_header(wrong_signature()), id="well_formed_wrong_signature"),
    pytest.param(lambda: with_signature_header("v1," + "A" * 5000), id="signature_header_over_4096_chars"),
    pytest.param(lambda: signed_then(webhook_id=""), id="empty_webhook_id"),
    pytest.param(lambda: signed_then(webhook_timestamp=""), id="empty_webhook_timestamp"),
    pytest.param(lambda: signed_then(webhook_signature=""), id="empty_webhook_signature"),
    pytest.param(
        lambda: webhook_event(GOOD_BODY, webhook_id="msg_" + "x" * 10_000), id="huge_webhook_id_signed"
    ),
    pytest.param(body_changed_after_signing, id="one_byte_of_body_changed_after_signing"),
    pytest.param(lambda: reserialised_after_signing(separators=(",", ":")), id="json_reserialised_compact"),
    pytest.param(lambda: reserialised_after_signing(sort_keys=True), id="json_reserialised_sorted_keys"),
    pytest.param(lambda: reserialised_after_signing(ensure_ascii=True), id="json_reserialised_ascii_escapes"),
]


@pytest.mark.parametrize("make_event", SIGNATURE_REJECTIONS)
def test_delivery_without_a_valid_signature_is_refused_before_any_dynamodb_call(
    make_event: Any, lambda_context: Any, aws_requests: Any
) -> None:
    # Given a delivery that no active secret signed as it arrives
    event = make_event()

    # When it reaches the webhook
    response = lambda_handler(event, lambda_context)

    # Then it is refused as unsigned, DynamoDB is never called, and nothing exists afterwards
    assert_refused(response, 401, "invalid_signature")
    assert "WWW-Authenticate" not in response["headers"]
    assert aws_requests.count("dynamodb") == 0
    assert_nothing_written()


SIGNATURE_ACCEPTANCES = [
    pytest.param(
        lambda: with_signature_header(f"{wrong_signature()} {good_signature()}"), id="wrong_then_good"
    ),
    pytest.param(
        lambda: with_signature_header(f"{good_signature()} {wrong_signature()}"), id="good_then_wrong"
    ),
    pytest.param(
        lambda: with_signature_header(f"v2,{wrong_signature()[3:]} {good_signature()}"),
        id="unknown_version_then_good",
    ),
    pytest.param(
        lambda: webhook_event(GOOD_BODY, timestamp=seconds_from_now(-299, beyond_tolerance=False)),
        id="timestamp_299s_in_the_past",
    ),
    pytest.param(
        lambda: webhook_event(GOOD_BODY, timestamp=seconds_from_now(299, beyond_tolerance=False)),
        id="timestamp_299s_in_the_future",
    ),
    pytest.param(
        lambda: http_event("POST", PATH, body=GOOD_BODY, headers=signed_headers(GOOD_BODY), base64_body=True),
        id="base64_encoded_utf8_body",
    ),
]


@pytest.mark.parametrize("make_event", SIGNATURE_ACCEPTANCES)
def test_delivery_with_one_good_signature_is_accepted(make_event: Any, lambda_context: Any) -> None:
    response = lambda_handler(make_event(), lambda_context)
    assert_created(response)


@pytest.mark.parametrize(
    ("active_secrets", "signer"),
    [
        pytest.param(f"{RETIRED_SECRET},{WEBHOOK_SECRET}", RETIRED_SECRET, id="rotation_signed_by_retired"),
        pytest.param(f"{RETIRED_SECRET},{WEBHOOK_SECRET}", WEBHOOK_SECRET, id="rotation_signed_by_current"),
        pytest.param(f"whsec_!!!, {WEBHOOK_SECRET}", WEBHOOK_SECRET, id="malformed_secret_beside_current"),
    ],
)
def test_during_a_rotation_any_active_secret_is_accepted(
    active_secrets: str, signer: str, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    # Given two active secrets (the backend may still sign with the old one)
    monkeypatch.setenv("WEBHOOK_SECRETS", active_secrets)
    reset_process_state()

    # When a delivery signed by either arrives
    response = lambda_handler(webhook_event(GOOD_BODY, secret=signer), lambda_context)

    # Then it is applied
    assert_created(response)


def test_during_a_rotation_a_secret_outside_the_active_ones_is_refused(
    monkeypatch: pytest.MonkeyPatch, lambda_context: Any, aws_requests: Any
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRETS", f"{RETIRED_SECRET},{WEBHOOK_SECRET}")
    reset_process_state()

    response = lambda_handler(webhook_event(GOOD_BODY, secret=UNKNOWN_SECRET), lambda_context)

    assert_refused(response, 401, "invalid_signature")
    assert aws_requests.count("dynamodb") == 0
    assert_nothing_written()


# --- 1b. The Standard Webhooks known-answer vector ---------------------------------------------------

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = '{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
VECTOR_HEADERS = {
    "content-type": "application/json",
    "webhook-id": VECTOR_ID,
    "webhook-timestamp": str(VECTOR_TIMESTAMP),
    "webhook-signature": VECTOR_SIGNATURE,
}


def freeze_standardwebhooks_clock(monkeypatch: pytest.MonkeyPatch, epoch: int) -> None:
    """standardwebhooks reads the time with `datetime.now` in its own module: only that name is patched."""

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> "FrozenDatetime":
            return cls.fromtimestamp(epoch, tz)

    monkeypatch.setattr(standardwebhooks.webhooks, "datetime", FrozenDatetime)


def test_known_answer_vector_is_signed_identically_by_the_library_and_our_helpers() -> None:
    at = datetime.fromtimestamp(VECTOR_TIMESTAMP, UTC)
    assert Webhook(VECTOR_SECRET).sign(VECTOR_ID, at, VECTOR_BODY) == VECTOR_SIGNATURE
    ours = signed_headers(VECTOR_BODY, secret=VECTOR_SECRET, webhook_id=VECTOR_ID, timestamp=at)
    assert {k: ours[k] for k in VECTOR_HEADERS} == VECTOR_HEADERS
    by_hand = sign_bytes(
        VECTOR_BODY.encode(), secret=VECTOR_SECRET, webhook_id=VECTOR_ID, at=VECTOR_TIMESTAMP
    )
    assert by_hand == VECTOR_HEADERS


def test_known_answer_vector_verifies_with_the_clock_frozen_at_its_timestamp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    freeze_standardwebhooks_clock(monkeypatch, VECTOR_TIMESTAMP)
    assert verify_delivery(VECTOR_BODY.encode(), VECTOR_HEADERS, (VECTOR_SECRET,)) == VECTOR_ID


def test_known_answer_vector_is_stale_today() -> None:
    with pytest.raises(NotAuthenticated) as refused:
        verify_delivery(VECTOR_BODY.encode(), VECTOR_HEADERS, (VECTOR_SECRET,))
    assert refused.value.code == "invalid_signature"
    assert "too old" in refused.value.message


def test_known_answer_vector_passes_the_handlers_signature_check_at_its_timestamp(
    monkeypatch: pytest.MonkeyPatch, lambda_context: Any, aws_requests: Any
) -> None:
    # Given the clock at the vector's time (VECTOR_SECRET is the configured test secret)
    assert VECTOR_SECRET == WEBHOOK_SECRET
    freeze_standardwebhooks_clock(monkeypatch, VECTOR_TIMESTAMP)

    # When the vector is delivered
    response = lambda_handler(delivery(VECTOR_BODY, dict(VECTOR_HEADERS)), lambda_context)

    # Then the signature passes and the body is refused as a payload (it is no completion), not as unsigned
    assert_refused(response, 422, "validation_error")
    assert aws_requests.count("dynamodb") == 0
    assert_nothing_written()


# --- 2. Bad input under a valid signature -----------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    body: str | bytes  # bytes are sent base64-encoded (isBase64Encoded), as API Gateway does for binary
    status: int
    code: str
    content_type: str | None = "application/json"


def malformed(body: str | bytes) -> Bad:
    return Bad(body, 400, "malformed_json")


def invalid(payload: Any) -> Bad:
    return Bad(payload if isinstance(payload, str) else as_json(payload), 422, "validation_error")


def too_large(body: str | bytes) -> Bad:
    return Bad(body, 413, "payload_too_large")


def wrong_type(content_type: str | None) -> Bad:
    return Bad(GOOD_BODY, 415, "unsupported_media_type", content_type)


def padded_to(size: int) -> str:
    """A valid completion of exactly `size` bytes (an ignored extra field takes up the room)."""
    empty = as_json(payload_with(padding=""))
    body = as_json(payload_with(padding="x" * (size - len(empty.encode()))))
    assert len(body.encode()) == size
    return body


def many_images(count: int, entry: dict[str, Any] | None = None) -> dict[str, Any]:
    template = completion_payload(JOB, user_id="user_a", images=1)["data"]["images"][0]
    payload = payload_with()
    payload["data"]["images"] = [
        copy.deepcopy(entry if entry is not None else template) for _ in range(count)
    ]
    return payload


def nested_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


VIDEO_FILE = {
    "file_path": f"videos/{JOB}/0.mp4",
    "size_bytes": 9_000_000,
    "format": "mp4",
    "dimensions": "1920x1080",
    "duration_seconds": 8,
}

BAD_INPUTS = [
    # Not JSON, or JSON we refuse to parse
    pytest.param(malformed('{"job_id": "job_rejected", "status": '), id="truncated_json"),
    pytest.param(malformed("job_id=job_rejected&status=completed"), id="form_encoded_not_json"),
    pytest.param(malformed("{'job_id': 'job_rejected', 'status': 'processing'}"), id="single_quoted_json"),
    pytest.param(malformed('{"job_id": "job_rejected", "status": "processing"} {}'), id="trailing_data"),
    pytest.param(malformed(""), id="empty_body"),
    pytest.param(malformed(GOOD_BODY.encode().replace(b"\xc3\xa9", b"\xe9")), id="invalid_utf8_body"),
    pytest.param(
        malformed(b'{"job_id": "job_\xff\xfe", "status": "processing"}'), id="invalid_utf8_in_job_id"
    ),
    pytest.param(
        malformed('{"job_id": "job_rejected", "status": "processing", "status": "failed"}'), id="dup_key"
    ),
    pytest.param(
        malformed(GOOD_BODY.replace('"format": "png"', '"format": "png", "format": "png"', 1)),
        id="dup_nested_key",
    ),
    pytest.param(malformed(nested_arrays(100_000)), id="100000_nested_arrays"),
    pytest.param(
        malformed('{"job_id": "job_rejected", "status": "processing", "x": ' + nested_arrays(100_000) + "}"),
        id="100000_nested_arrays_inside_object",
    ),
    pytest.param(malformed('{"a": ' * 30_000 + "1" + "}" * 30_000), id="30000_nested_objects"),
    pytest.param(malformed('{"job_id": "job_rejected", "status": "processing", "progress": NaN}'), id="nan"),
    pytest.param(malformed(GOOD_BODY.replace("7.8", "Infinity")), id="infinity"),
    pytest.param(malformed(GOOD_BODY.replace("7.8", "-Infinity")), id="minus_infinity"),
    # JSON, but not an object
    pytest.param(invalid(json.dumps([payload_with()])), id="json_array"),
    pytest.param(invalid("null"), id="json_null"),
    pytest.param(invalid('"completed"'), id="json_string"),
    pytest.param(invalid("42"), id="json_number"),
    # Content type
    pytest.param(wrong_type("text/plain"), id="text_plain"),
    pytest.param(wrong_type("application/x-www-form-urlencoded"), id="form_urlencoded"),
    pytest.param(wrong_type(None), id="no_content_type"),
    # Size
    pytest.param(too_large(padded_to(MAX_WEBHOOK_BYTES + 1)), id="one_byte_over_256_kib"),
    pytest.param(too_large(padded_to(MAX_WEBHOOK_BYTES + 1).encode()), id="one_byte_over_256_kib_base64"),
    pytest.param(too_large(as_json(many_images(10_000))), id="10000_images"),
    # job_id, status, progress
    pytest.param(invalid(payload_with(job_id=DROP)), id="missing_job_id"),
    pytest.param(invalid(payload_with(job_id="")), id="empty_job_id"),
    pytest.param(invalid(payload_with(job_id="job/../other")), id="job_id_with_slashes"),
    pytest.param(invalid(payload_with(job_id="job rejected")), id="job_id_with_space"),
    pytest.param(invalid(payload_with(job_id="jöb")), id="job_id_non_ascii"),
    pytest.param(invalid(payload_with(job_id="j" * 65)), id="job_id_65_chars"),
    pytest.param(invalid(payload_with(job_id=12345)), id="job_id_number"),
    pytest.param(invalid(payload_with(status=DROP)), id="missing_status"),
    pytest.param(invalid(payload_with(status="done")), id="unknown_status"),
    pytest.param(invalid(payload_with(status="canceled")), id="status_canceled"),
    pytest.param(invalid(payload_with(status="processing", data=DROP, progress=101)), id="progress_101"),
    pytest.param(invalid(payload_with(status="processing", data=DROP, progress=-1)), id="progress_minus_1"),
    pytest.param(invalid(payload_with(status="processing", data=DROP, progress="50")), id="progress_string"),
    pytest.param(invalid(payload_with(status="processing", data=DROP, progress=50.5)), id="progress_float"),
    pytest.param(invalid(payload_with(status="processing", data=DROP, progress=True)), id="progress_boolean"),
    # Files
    pytest.param(invalid(image_with(size_bytes=-1)), id="size_bytes_negative"),
    pytest.param(invalid(image_with(size_bytes="1482013")), id="size_bytes_string"),
    pytest.param(invalid(image_with(dimensions="0x0")), id="dimensions_0x0"),
    pytest.param(invalid(image_with(dimensions="axb")), id="dimensions_axb"),
    pytest.param(invalid(image_with(dimensions="1024")), id="dimensions_1024"),
    pytest.param(invalid(image_with(dimensions="-5x10")), id="dimensions_minus_5x10"),
    pytest.param(invalid(image_with(dimensions="1024x0")), id="dimensions_1024x0"),
    pytest.param(invalid(image_with(file_path=f"/images/{JOB}/0.png")), id="file_path_absolute"),
    pytest.param(invalid(image_with(file_path=f"images/{JOB}/../other_job/0.png")), id="file_path_dotdot"),
    pytest.param(invalid(image_with(file_path=f"../{JOB}/0.png")), id="file_path_leading_dotdot"),
    pytest.param(invalid(image_with(file_path=f"images/{JOB}/0\n.png")), id="file_path_newline"),
    pytest.param(invalid(image_with(file_path=f"images/{JOB}/\x000.png")), id="file_path_nul"),
    pytest.param(invalid(image_with(file_path="images/other_job/0.png")), id="file_path_outside_job_folder"),
    pytest.param(invalid(image_with(file_path=f"images/{JOB}.png")), id="file_path_job_id_as_file_name"),
    pytest.param(invalid(image_with(file_path=f"images\\{JOB}\\0.png")), id="file_path_backslashes"),
    pytest.param(invalid(image_with(file_path=f"images//{JOB}/0.png")), id="file_path_empty_segment"),
    pytest.param(invalid(image_with(thumbnail_path="../secrets/0.png")), id="thumbnail_path_dotdot"),
    pytest.param(invalid(many_images(10_000, entry={})), id="10000_empty_image_entries"),
    pytest.param(invalid(many_images(MAX_FILES + 1)), id="one_image_over_the_limit"),
    pytest.param(invalid(data_with(images=[])), id="completed_with_empty_images"),
    pytest.param(invalid(payload_with(data=DROP)), id="completed_without_data"),
    pytest.param(invalid(data_with(images=DROP)), id="completed_without_images_key"),
    pytest.param(invalid(image_with(format="mp4")), id="video_format_in_image_webhook"),
    pytest.param(invalid(image_with(format="gif")), id="unsupported_image_format"),
    pytest.param(invalid(image_with(duration_seconds=8)), id="duration_on_an_image"),
    pytest.param(invalid(data_with(videos=[VIDEO_FILE])), id="data_videos_beside_images"),
    pytest.param(invalid(data_with(images=DROP, videos=[VIDEO_FILE])), id="data_videos_instead_of_images"),
    pytest.param(
        invalid(GOOD_BODY.replace("Un phare breton", "\\ud800 phare", 1)), id="lone_surrogate_escape"
    ),
    # Principals and error
    pytest.param(invalid(payload_with(user_id="user a")), id="user_id_with_space"),
    pytest.param(invalid(payload_with(user_id="user_a/../admin")), id="user_id_with_slashes"),
    pytest.param(invalid(payload_with(user_id="user_a\n")), id="user_id_with_newline"),
    pytest.param(invalid(payload_with(user_id=42)), id="user_id_number"),
    pytest.param(invalid(payload_with(organization_id="org 1")), id="organization_id_with_space"),
    pytest.param(invalid(payload_with(status="failed", data=DROP, error=42)), id="error_number"),
    pytest.param(invalid(payload_with(status="failed", data=DROP, error="")), id="error_empty_string"),
    pytest.param(
        invalid(payload_with(status="failed", data=DROP, error={})), id="error_object_without_message"
    ),
    pytest.param(invalid(payload_with(status="failed", data=DROP, error=["boom"])), id="error_list"),
]


@pytest.mark.parametrize("bad", BAD_INPUTS)
def test_signed_delivery_with_bad_input_is_refused_and_writes_nothing(
    bad: Bad, lambda_context: Any, aws_requests: Any
) -> None:
    # Given a delivery correctly signed by the active secret, whatever its body
    raw = bad.body if isinstance(bad.body, bytes) else bad.body.encode("utf-8")
    headers = sign_bytes(raw, webhook_id="msg_bad_input")
    if bad.content_type is None:
        del headers["content-type"]
    else:
        headers["content-type"] = bad.content_type
    event = http_event("POST", PATH, body=bad.body, headers=headers, base64_body=isinstance(bad.body, bytes))

    # When it reaches the webhook
    response = lambda_handler(event, lambda_context)

    # Then it gets the contract's 4xx with a JSON error body, and nothing is written
    assert_refused(response, bad.status, bad.code)
    assert aws_requests.count("dynamodb") == 0
    assert_nothing_written()


def test_a_body_of_exactly_256_kib_is_accepted(lambda_context: Any) -> None:
    body = padded_to(MAX_WEBHOOK_BYTES)
    response = lambda_handler(delivery(body, signed_headers(body)), lambda_context)
    assert_created(response)
