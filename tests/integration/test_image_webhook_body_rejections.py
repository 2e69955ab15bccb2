"""POST /api/webhooks/image-completion: a signed delivery with a hostile or invalid body gets a 400,
413, 415 or 422 with a JSON error body, never a 5xx, and nothing is written."""

import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest

from completion_webhook.app import lambda_handler
from mediagen.contract.payloads import MAX_FILES
from mediagen.edge.completion_delivery import MAX_WEBHOOK_BYTES
from tests.integration.webhook_refusals import (
    DROP,
    GOOD_BODY,
    JOB,
    PATH,
    as_json,
    assert_created,
    assert_nothing_written,
    assert_refused,
    data_with,
    delivery,
    image_with,
    payload_with,
    sign_bytes,
)
from tests.support import (
    completion_payload,
    http_api_event,
    signed_headers,
)

pytestmark = pytest.mark.usefixtures("aws")


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
    event = http_api_event(
        "POST", PATH, body=bad.body, headers=headers, base64_body=isinstance(bad.body, bytes)
    )

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
