"""Cancel (author only, final) and the notifications routes (pagination, unread, read marking)."""

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from cancel_generation.app import lambda_handler as cancel_handler
from completion_webhook.app import lambda_handler as webhook_handler
from generate.app import lambda_handler as generate_handler
from mediagen.data import notifications as notification_data
from mediagen.data.models import Generation, Notification
from mediagen.rules.notifications import cursor_after
from notifications.app import lambda_handler as notifications_handler
from tests.support import completion_payload, http_api_event, response_json, seed_notifications, webhook_event

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def generate(job_id: str, headers: dict[str, str], context: Any, kind: str = "image") -> None:
    body = json.dumps({"prompt": "Un phare", "job_id": job_id})
    event = http_api_event(
        "POST", f"/api/{kind}s/generate", body=body, headers={"content-type": "application/json", **headers}
    )
    assert generate_handler(event, context)["statusCode"] == 202


def cancel(job_id: str, headers: dict[str, str], context: Any, kind: str = "image") -> dict[str, Any]:
    return cancel_handler(http_api_event("POST", f"/api/{kind}s/{job_id}/cancel", headers=headers), context)


def list_page(headers: dict[str, str], context: Any, **query: Any) -> dict[str, Any]:
    event = http_api_event("GET", "/api/notifications", headers=headers)
    if query:
        event["rawQueryString"] = urlencode(query)
        event["queryStringParameters"] = {k: str(v) for k, v in query.items()}
    return notifications_handler(event, context)


def mark_read(notification: str, headers: dict[str, str], context: Any) -> dict[str, Any]:
    return notifications_handler(
        http_api_event("POST", f"/api/notifications/{notification}/read", headers=headers), context
    )


# --- cancel ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_server")
def test_author_cancels_then_a_completion_webhook_is_stale(tokens: Any, lambda_context: Any) -> None:
    # Given a queued job of user A
    headers = tokens.auth("user_a", org="org_1")
    generate("job_c", headers, lambda_context)

    # When A cancels it, twice
    first = cancel("job_c", headers, lambda_context)
    again = cancel("job_c", headers, lambda_context)

    # Then it is canceled, and a later completion is acknowledged as stale and changes nothing
    assert first["statusCode"] == again["statusCode"] == 200
    assert response_json(first)["status"] == response_json(again)["status"] == "canceled"
    before = Generation.get("job_c").serialize()
    late = webhook_handler(webhook_event(completion_payload("job_c", user_id="user_a")), lambda_context)
    assert (late["statusCode"], response_json(late)["outcome"]) == (200, "stale")
    assert Generation.get("job_c").serialize() == before
    assert list(Notification.scan()) == []


@pytest.mark.usefixtures("aws_server")
def test_only_the_author_may_cancel(tokens: Any, lambda_context: Any) -> None:
    generate("job_c", tokens.auth("user_a", org="org_1"), lambda_context)
    stranger = cancel("job_c", tokens.auth("user_b"), lambda_context)
    colleague = cancel("job_c", tokens.auth("user_m", org="org_1"), lambda_context)
    missing = cancel("job_nope", tokens.auth("user_b"), lambda_context)
    wrong_kind = cancel("job_c", tokens.auth("user_a"), lambda_context, kind="video")
    assert (stranger["statusCode"], missing["statusCode"], wrong_kind["statusCode"]) == (404, 404, 404)
    assert response_json(stranger) == response_json(missing) | {"message": response_json(stranger)["message"]}
    assert colleague["statusCode"] == 403
    assert Generation.get("job_c").status == "queued"


@pytest.mark.usefixtures("aws_server")
def test_finished_job_cannot_be_canceled(tokens: Any, lambda_context: Any) -> None:
    webhook_handler(webhook_event(completion_payload("job_done", user_id="user_a")), lambda_context)
    response = cancel("job_done", tokens.auth("user_a"), lambda_context)
    assert response["statusCode"] == 409
    assert response_json(response)["status"] == "completed"


@pytest.mark.usefixtures("aws")
def test_cancel_without_token_is_401(lambda_context: Any) -> None:
    assert cancel("job_c", {}, lambda_context)["statusCode"] == 401


# --- notifications --------------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_server")
def test_pages_are_newest_first_with_an_opaque_cursor(tokens: Any, lambda_context: Any) -> None:
    ids = seed_notifications("user_a", 45, read_every=3)
    seed_notifications("user_b", 5)
    headers = tokens.auth("user_a")

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 20} | ({"cursor": cursor} if cursor else {})
        body = response_json(list_page(headers, lambda_context, **query))
        seen += [item["id"] for item in body["items"]]
        assert body["unread_count"] == 30
        cursor = body["next_cursor"]
        pages += 1
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))
    first = response_json(list_page(headers, lambda_context, limit=1))["items"][0]
    assert set(first) == {"id", "type", "title", "message", "read", "created_at", "metadata"}
    assert first["metadata"] == {"generation_id": "job_00044", "source": "front-end"}


@pytest.mark.usefixtures("aws_server")
def test_deleted_jobs_notification_tombstones_are_in_no_page_count_or_read_mark(
    tokens: Any, lambda_context: Any
) -> None:
    # Given 12 notifications of A, of which the jobs of 7 (a run of 5 across a page's edge, and 2 more,
    # unread ones among them) were deleted since: their tombstones stand at their keys
    ids = seed_notifications("user_a", 12, read_every=4)
    gone = {ids[i] for i in (2, 3, 4, 5, 6, 9, 11)}
    for notification_id in gone:
        Notification("user_a", notification_id).update(actions=notification_data.tombstone_actions(NOW))
    headers = tokens.auth("user_a")

    # When A walks the list 2 at a time
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = response_json(list_page(headers, lambda_context, **query))
        assert len(body["items"]) == 2 or body["next_cursor"] is None  # full pages until the last
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    # Then every live notification comes once, newest first, and no tombstone; nor in the unread ones
    live = [notification_id for notification_id in reversed(ids) if notification_id not in gone]
    assert seen == live
    unread = response_json(list_page(headers, lambda_context, unread="true", limit=100))
    assert {item["id"] for item in unread["items"]} & gone == set()
    assert unread["unread_count"] == len(unread["items"]) == 3  # unread: 1, 7, 10 (0, 4, 8 read, 6 gone)
    # and a tombstone cannot be marked read: the same 404 as a missing notification
    assert mark_read(ids[9], headers, lambda_context)["statusCode"] == 404


@pytest.mark.usefixtures("aws_server")
def test_unread_filter_and_read_marking(tokens: Any, lambda_context: Any) -> None:
    ids = seed_notifications("user_a", 6, read_every=2)
    headers = tokens.auth("user_a")

    unread = response_json(list_page(headers, lambda_context, unread="true"))
    assert [item["id"] for item in unread["items"]] == [ids[5], ids[3], ids[1]]
    assert all(not item["read"] for item in unread["items"])

    for _ in range(2):  # idempotent
        response = mark_read(ids[3], headers, lambda_context)
        assert response["statusCode"] == 200 and response_json(response)["read"] is True
    after = response_json(list_page(headers, lambda_context, unread="true"))
    assert [item["id"] for item in after["items"]] == [ids[5], ids[1]]
    assert after["unread_count"] == 2


@pytest.mark.usefixtures("aws")
def test_another_users_notification_is_404(tokens: Any, lambda_context: Any) -> None:
    ids = seed_notifications("user_a", 1)
    assert mark_read(ids[0], tokens.auth("user_b"), lambda_context)["statusCode"] == 404
    assert mark_read("not-an-id", tokens.auth("user_a"), lambda_context)["statusCode"] == 404
    assert Notification.get("user_a", ids[0]).read is False


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 101}, {"limit": "abc"}, {"unread": "maybe"}, {"cursor": "!!!"}, {"sort": "asc"}],
    ids=["limit-0", "limit-101", "limit-text", "unread-text", "cursor-garbage", "unknown-parameter"],
)
@pytest.mark.usefixtures("aws")
def test_bad_queries_are_4xx(tokens: Any, lambda_context: Any, query: dict[str, Any]) -> None:
    response = list_page(tokens.auth("user_a"), lambda_context, **query)
    assert response["statusCode"] in (400, 422)
    assert response_json(response)["code"] and response_json(response)["message"]


@pytest.mark.usefixtures("aws")
def test_a_cursor_cannot_reach_another_users_notifications(tokens: Any, lambda_context: Any) -> None:
    seed_notifications("user_a", 3)
    cursor = response_json(list_page(tokens.auth("user_a"), lambda_context, limit=1))["next_cursor"]
    body = response_json(list_page(tokens.auth("user_b"), lambda_context, cursor=cursor))
    assert body["items"] == [] and body["unread_count"] == 0


@pytest.mark.usefixtures("aws")
def test_page_fifty_costs_what_page_one_costs(tokens: Any, lambda_context: Any, aws_requests: Any) -> None:
    # Given a user with 10,000 notifications
    ids = seed_notifications("user_a", 10_000, read_every=2)
    headers = tokens.auth("user_a")

    # When page 1 and then page 50 are read
    aws_requests.clear()
    first = response_json(list_page(headers, lambda_context, limit=20))
    page_one = aws_requests.count("dynamodb")
    assert len(first["items"]) == 20 and first["next_cursor"] == cursor_after(ids[10_000 - 20])
    # (a cursor names the last item seen: the one page 49 would return is made here, as reading 49
    # pages of moto's in-memory query costs tens of seconds and shows nothing page 2 does not)
    aws_requests.clear()
    cursor = cursor_after(ids[10_000 - 49 * 20])
    page_fifty = response_json(list_page(headers, lambda_context, limit=20, cursor=cursor))

    # Then both cost the same requests: one Query for the page and the COUNT Query of the unread
    # index (one request per MB of unread items: 2 for these 5,000)
    assert aws_requests.count("dynamodb") == page_one
    assert aws_requests.by_operation() == {"dynamodb.Query": page_one}
    assert page_one <= 3
    assert page_fifty["items"][0]["metadata"]["generation_id"] == f"job_{10_000 - 49 * 20 - 1:05d}"
    assert page_fifty["unread_count"] == 5_000
