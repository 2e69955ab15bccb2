"""POST /api/webhooks/clerk (Clerk's account events, signed by Svix): `user.deleted` records the person's
keyed hash and queues their erasure, once however often it is delivered; any other event type is
acknowledged and stores nothing; forged, unsigned, stale, oversize or malformed deliveries are refused
and nothing is recorded or queued. Deliveries are signed with Svix's own library, as Clerk signs them."""

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from clerk_webhook.app import lambda_handler
from local.harness.parties import CLERK_WEBHOOK_SECRET, clerk_event, clerk_payload, svix_headers
from mediagen.data.models import ErasedPerson
from mediagen.rules.erasure import person_hash
from tests.support import RETIRED_SECRET, WEBHOOK_SECRET, http_api_event, response_json

pytestmark = pytest.mark.usefixtures("aws")
USER = "user_2erasedPerson"
NEW_SECRET = "whsec_bmV3IGNsZXJrIHNpZ25pbmcgc2VjcmV0IGFmdGVyIHJvdGF0aW9u"


def send(event: dict[str, Any], lambda_context: Any) -> tuple[int, Any]:
    response = lambda_handler(event, lambda_context)
    return response["statusCode"], response_json(response)


def queued() -> list[dict[str, Any]]:
    """The messages on the erasure queue (received, so they stay invisible to a second call)."""
    sqs = boto3.client("sqs")
    answer = sqs.receive_message(QueueUrl=os.environ["ERASURE_QUEUE_URL"], MaxNumberOfMessages=10)
    return [json.loads(message["Body"]) for message in answer.get("Messages", [])]


def erased_records() -> list[ErasedPerson]:
    return list(ErasedPerson.scan())


def assert_nothing_recorded() -> None:
    assert erased_records() == []
    assert queued() == []


# --- user.deleted ---------------------------------------------------------------------------------


def test_user_deleted_records_only_a_keyed_hash_and_queues_the_erasure(lambda_context: Any) -> None:
    # Given Clerk's user.deleted for a person, signed by Svix with Clerk's header names
    event = clerk_event(clerk_payload("user.deleted", USER), message_id="msg_2delete")

    # When it arrives
    status, body = send(event, lambda_context)

    # Then it is acknowledged, the person's hash is recorded (never their id), and the erasure queued
    assert status == 200
    assert body == {"event_id": "msg_2delete", "type": "user.deleted", "outcome": "erasing"}
    [record] = erased_records()
    assert record.person_hash == person_hash(USER) and len(record.person_hash) == 64
    raw = json.dumps(boto3.client("dynamodb").scan(TableName=ErasedPerson.Meta.table_name)["Items"])
    assert USER not in raw
    assert queued() == [{"user_id": USER, "final_pass": False}]


def test_the_same_delivery_again_changes_nothing(lambda_context: Any) -> None:
    event = clerk_event(clerk_payload("user.deleted", USER), message_id="msg_again")
    assert send(event, lambda_context)[1]["outcome"] == "erasing"
    before = [record.attribute_values for record in erased_records()]

    status, body = send(event, lambda_context)

    assert (status, body["outcome"]) == (200, "duplicate")
    assert [record.attribute_values for record in erased_records()] == before


def test_a_redelivery_after_the_erasure_completed_queues_nothing(lambda_context: Any) -> None:
    event = clerk_event(clerk_payload("user.deleted", USER), message_id="msg_done")
    send(event, lambda_context)
    assert len(queued()) == 1
    ErasedPerson(person_hash(USER)).update(actions=[ErasedPerson.completed_at.set(datetime.now(UTC))])

    assert send(event, lambda_context)[1]["outcome"] == "duplicate"
    assert queued() == []


def test_a_redelivery_before_the_erasure_completed_queues_it_again(lambda_context: Any) -> None:
    # A first delivery that died between its record and its message is finished by the retry.
    ErasedPerson(person_hash=person_hash(USER), requested_at=datetime.now(UTC)).save()

    status, body = send(clerk_event(clerk_payload("user.deleted", USER)), lambda_context)

    assert (status, body["outcome"]) == (200, "duplicate")
    assert queued() == [{"user_id": USER, "final_pass": False}]


def test_standard_webhooks_header_names_are_accepted_too(lambda_context: Any) -> None:
    event = clerk_event(clerk_payload("user.deleted", USER), names="webhook")
    assert send(event, lambda_context) == (
        200,
        {"event_id": event["headers"]["webhook-id"], "type": "user.deleted", "outcome": "erasing"},
    )


@pytest.mark.parametrize("secret", [CLERK_WEBHOOK_SECRET, NEW_SECRET], ids=["current", "new"])
def test_during_a_rotation_either_active_secret_is_accepted(
    secret: str, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLERK_WEBHOOK_SECRETS", f"{NEW_SECRET},{CLERK_WEBHOOK_SECRET}")
    status, body = send(clerk_event(clerk_payload("user.deleted", USER), secret=secret), lambda_context)
    assert (status, body["outcome"]) == (200, "erasing")


# --- Other event types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event_type",
    [
        "user.created",
        "user.updated",
        "session.created",
        "organizationMembership.deleted",
        "organization.deleted",
        # Not user.deleted exactly, whatever their shape: ignored too (the contract), not 422
        "",
        "user.deleted ",
        " user.deleted",
        "User.Deleted",
        "user.deleted\n",
        "t" * 1000,
        "événement.😀",
    ],
)
def test_other_event_types_are_ignored_and_store_nothing(event_type: str, lambda_context: Any) -> None:
    status, body = send(clerk_event(clerk_payload(event_type, USER)), lambda_context)

    assert (status, body["outcome"], body["type"]) == (200, "ignored", event_type)
    assert_nothing_recorded()


# --- Refusals: nothing recorded, nothing queued -----------------------------------------------------


def _stale(seconds: int) -> dict[str, Any]:
    return clerk_event(
        clerk_payload("user.deleted", USER), timestamp=datetime.now(UTC) + timedelta(seconds=seconds)
    )


def _body_changed_after_signing() -> dict[str, Any]:
    body = json.dumps(clerk_payload("user.deleted", USER))
    headers = svix_headers(body)
    return http_api_event(
        "POST", "/api/webhooks/clerk", body=body.replace(USER, "user_2someoneElse"), headers=headers
    )


def _unsigned() -> dict[str, Any]:
    body = json.dumps(clerk_payload("user.deleted", USER))
    return http_api_event(
        "POST", "/api/webhooks/clerk", body=body, headers={"content-type": "application/json"}
    )


def _completion_secret() -> dict[str, Any]:
    # Signed with the generation backend's secret: not Clerk's endpoint.
    return clerk_event(clerk_payload("user.deleted", USER), secret=WEBHOOK_SECRET)


REFUSED_401 = [
    pytest.param(_unsigned, id="unsigned"),
    pytest.param(
        lambda: clerk_event(clerk_payload("user.deleted", USER), secret=RETIRED_SECRET), id="forged"
    ),
    pytest.param(_completion_secret, id="the_completion_webhooks_secret"),
    pytest.param(_body_changed_after_signing, id="body_changed_after_signing"),
    pytest.param(lambda: _stale(-301), id="timestamp_301s_old"),
    pytest.param(lambda: _stale(301), id="timestamp_301s_ahead"),
]


@pytest.mark.parametrize("make_event", REFUSED_401)
def test_a_delivery_clerk_did_not_sign_now_is_refused_401(make_event: Any, lambda_context: Any) -> None:
    status, body = send(make_event(), lambda_context)

    assert (status, body["code"]) == (401, "invalid_signature")
    assert_nothing_recorded()


def test_a_timestamp_within_five_minutes_is_accepted(lambda_context: Any) -> None:
    assert send(_stale(-290), lambda_context)[0] == 200


def _signed_raw(body: str, content_type: str = "application/json") -> dict[str, Any]:
    headers = {**svix_headers(body), "content-type": content_type}
    return http_api_event("POST", "/api/webhooks/clerk", body=body, headers=headers)


REFUSED_4XX = [
    pytest.param(lambda: _signed_raw("{not json"), 400, id="malformed_json"),
    pytest.param(
        lambda: _signed_raw('{"type": "user.deleted", "type": "user.created", "data": {}}'),
        400,
        id="duplicate_keys",
    ),
    pytest.param(
        lambda: _signed_raw(json.dumps(clerk_payload("user.deleted", USER)), "text/plain"),
        415,
        id="wrong_content_type",
    ),
    pytest.param(lambda: _signed_raw("[]"), 422, id="not_an_object"),
    pytest.param(lambda: _signed_raw(json.dumps({"data": {"id": USER}})), 422, id="no_type"),
    pytest.param(
        lambda: _signed_raw(json.dumps({"type": "user.deleted", "data": "user_x"})),
        422,
        id="data_not_an_object",
    ),
    pytest.param(lambda: clerk_event(clerk_payload("user.deleted", None)), 422, id="user_deleted_without_id"),
    pytest.param(
        lambda: clerk_event(clerk_payload("user.deleted", "")), 422, id="user_deleted_with_empty_id"
    ),
    pytest.param(
        lambda: clerk_event(clerk_payload("user.deleted", "user 2 ")), 422, id="user_deleted_with_bad_id"
    ),
    pytest.param(
        lambda: clerk_event(clerk_payload("user.deleted", "u" * 129)), 422, id="user_deleted_with_long_id"
    ),
    pytest.param(
        lambda: _signed_raw(json.dumps({**clerk_payload("user.deleted", USER), "pad": "x" * 262_144})),
        413,
        id="oversize",
    ),
]


@pytest.mark.parametrize(("make_event", "expected"), REFUSED_4XX)
def test_a_malformed_event_is_refused_and_erases_nobody(
    make_event: Any, expected: int, lambda_context: Any
) -> None:
    status, body = send(make_event(), lambda_context)

    assert status == expected
    assert body["code"] and body["message"] and "Traceback" not in json.dumps(body)
    assert_nothing_recorded()


# --- The keyed hash -------------------------------------------------------------------------------


def test_the_hash_is_keyed_by_the_stacks_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    first = person_hash(USER)
    assert person_hash(USER) == first and person_hash("user_2other") != first
    assert USER not in first
    monkeypatch.setenv("ERASURE_HASH_KEY", "another-stack-another-key-0123456789abcdef")
    assert person_hash(USER) != first  # without the key, the id cannot be tested against the table
