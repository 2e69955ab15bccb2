"""POST /api/webhooks/image-completion: a delivery that no active secret signed gets a 401
`invalid_signature` before DynamoDB is called at all, one good signature among several is enough, any
active secret works during a rotation, and the Standard Webhooks known-answer vector holds."""

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import standardwebhooks.webhooks
from standardwebhooks.webhooks import Webhook

from completion_webhook.app import lambda_handler
from mediagen.core.errors import NotAuthenticated
from mediagen.edge.webhook_signature import verify_delivery
from tests.conftest import reset_process_state
from tests.integration.webhook_refusals import (
    GOOD_BODY,
    PATH,
    UNKNOWN_SECRET,
    assert_created,
    assert_nothing_written,
    assert_refused,
    body_changed_after_signing,
    delivery,
    good_signature,
    reserialised_after_signing,
    seconds_from_now,
    sign_bytes,
    signed_then,
    with_signature_header,
    wrong_signature,
)
from tests.support import (
    RETIRED_SECRET,
    WEBHOOK_SECRET,
    http_api_event,
    signed_headers,
    webhook_event,
)

pytestmark = pytest.mark.usefixtures("aws")


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
        lambda: http_api_event(
            "POST", PATH, body=GOOD_BODY, headers=signed_headers(GOOD_BODY), base64_body=True
        ),
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
