"""The cancel, status and result routes (job ids that cannot exist) and the notifications routes (bad
queries, cursors and ids) refuse hostile input, through the real handlers against moto: a 4xx with a
small JSON error body, never a 5xx, and nothing written."""

import base64
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from cancel_generation.app import lambda_handler as cancel_handler
from generation_result.app import lambda_handler as result_handler
from generation_status.app import lambda_handler as status_handler
from mediagen.data.models import Generation, Notification
from mediagen.data.notifications import notification_id
from notifications.app import lambda_handler as notifications_handler
from tests.integration.user_route_refusals import (
    KINDS,
    ORG,
    USER,
    Event,
    Handler,
    Store,
    assert_unique,
    b64url,
    run_refused,
    signed_in,
)
from tests.support import TokenMinter, http_api_event

pytestmark = pytest.mark.usefixtures("many_jobs_per_user", "aws")


# --- Cancel, status and result: job ids that cannot exist ---------------------------------------------

SEEDED = {"image": "job_seed_image", "video": "job_seed_video"}

IMPOSSIBLE_JOB_IDS = [
    ("dot_dot", ".."),
    ("single_dot", "."),
    ("dot_dot_url_encoded", "%2E%2E"),
    ("slash_url_encoded", "a%2Fb"),
    ("slash_raw", "a/b"),
    ("seeded_id_then_encoded_traversal", "job_seed_image%2F..%2F..%2Fx"),
    ("65_chars", "j" * 65),
    ("unicode", "jöb"),
    ("unicode_url_encoded", quote("jöb")),
    ("emoji", "🎨"),
    ("nul_url_encoded", "job_seed_image%00"),
    ("newline_url_encoded", "job_seed_image%0A"),
    ("space_url_encoded", "job%20seed"),
    ("quote_and_comment", "job';--"),
    ("braces", "{job_id}"),
]


def seed_jobs() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for kind, job_id in SEEDED.items():
        Generation(
            job_id=job_id,
            kind=kind,
            author_id=USER,
            organization_id=ORG,
            prompt="Un phare",
            num_images=1,
            size="1024x1024",
            status="queued",
            progress=0,
            source="api",
            created_at=now,
            updated_at=now,
        ).save()


ROUTES = [
    pytest.param(cancel_handler, "POST", "cancel", id="cancel"),
    pytest.param(status_handler, "GET", "status", id="status"),
    pytest.param(result_handler, "GET", "result", id="result"),
]


@pytest.mark.parametrize(("handler", "method", "action"), ROUTES)
def test_job_routes_answer_404_for_ids_that_cannot_exist_without_asking_dynamodb(
    handler: Handler,
    method: str,
    action: str,
    subtests: pytest.Subtests,
    store: Store,
    tokens: TokenMinter,
    aws_requests: Any,
) -> None:
    assert_unique([case_id for case_id, _ in IMPOSSIBLE_JOB_IDS])
    seed_jobs()  # a queued job of the caller per kind, which no case may reach or change
    for kind in KINDS:
        for case_id, job_id in IMPOSSIBLE_JOB_IDS:
            with subtests.test(msg=f"{kind}_{case_id}"):
                event = http_api_event(method, f"/api/{kind}s/{job_id}/{action}", headers=signed_in(tokens))
                run_refused(
                    store,
                    aws_requests,
                    handler,
                    event,
                    status=404,
                    code="not_found",
                    case=f"{kind}_{case_id}",
                )
        for case_id, job_id in [("seeded_job", SEEDED[kind]), ("impossible_id", "..")]:
            with subtests.test(msg=f"{kind}_no_token_{case_id}"):
                event = http_api_event(method, f"/api/{kind}s/{job_id}/{action}")
                run_refused(
                    store,
                    aws_requests,
                    handler,
                    event,
                    status=401,
                    code="missing_token",
                    case=f"{kind}_no_token_{case_id}",
                )
    assert Generation.get(SEEDED["image"]).status == "queued"


# --- GET /api/notifications and POST /api/notifications/{id}/read --------------------------------------

SEED_TIME = datetime(2026, 1, 1, tzinfo=UTC)
MINE = notification_id(SEED_TIME, "job_mine")
THEIRS = notification_id(SEED_TIME, "job_theirs")


def seed_notifications() -> None:
    for user_id, item_id, job_id in [(USER, MINE, "job_mine"), ("user_b", THEIRS, "job_theirs")]:
        Notification(
            user_id=user_id,
            notification_id=item_id,
            unread_user_id=user_id,
            type="IMAGE_COMPLETED",
            title="🎨 Images générées avec succès",
            message="1 image(s) créée(s).",
            read=False,
            created_at=SEED_TIME,
            generation_id=job_id,
            source="api",
        ).save()


def cursor_of(raw: bytes | str) -> str:
    """An opaque cursor as the route makes them: unpadded URL-safe base64 of JSON."""
    return b64url(raw.encode() if isinstance(raw, str) else raw)


def list_event(query: dict[str, str], headers: dict[str, str]) -> Event:
    event = http_api_event("GET", "/api/notifications", headers=headers)
    event["rawQueryString"] = urlencode(query)
    if query:
        event["queryStringParameters"] = query
    return event


def bad_query(case_id: str, query: dict[str, str]) -> tuple[str, dict[str, str], int, str]:
    return (case_id, query, 422, "validation_error")


def bad_cursor(case_id: str, cursor: str) -> tuple[str, dict[str, str], int, str]:
    return (case_id, {"cursor": cursor}, 400, "invalid_cursor")


LIST_CASES = [
    bad_query("limit_0", {"limit": "0"}),
    bad_query("limit_101", {"limit": "101"}),
    bad_query("limit_minus_1", {"limit": "-1"}),
    bad_query("limit_x", {"limit": "x"}),
    bad_query("limit_1_5", {"limit": "1.5"}),
    bad_query("limit_empty", {"limit": ""}),
    bad_query("limit_repeated", {"limit": "5,6"}),  # HTTP API joins repeated parameters with commas
    bad_query("limit_1e2", {"limit": "1e2"}),
    bad_query("limit_huge", {"limit": "9" * 30}),
    bad_query("limit_nan", {"limit": "NaN"}),
    bad_query("unread_yes", {"unread": "yes"}),
    bad_query("unread_1", {"unread": "1"}),
    bad_query("unread_upper_case", {"unread": "TRUE"}),
    bad_query("unread_empty", {"unread": ""}),
    bad_query("unknown_parameter", {"page": "2"}),
    bad_query("user_id_parameter", {"user_id": "user_b"}),
    bad_query("parameter_name_case", {"Limit": "5"}),
    bad_cursor("cursor_over_512_chars", "A" * 513),
    bad_cursor("cursor_600_chars", "A" * 600),
    bad_cursor("cursor_empty", ""),
    bad_cursor("cursor_garbage", "!!!not base64!!!"),
    bad_cursor("cursor_percent_garbage", "%%%%"),
    bad_cursor("cursor_one_char", "A"),
    bad_cursor("cursor_base64_of_binary", cursor_of(b"\xff\xfe\x00\x01garbage")),
    bad_cursor("cursor_base64_of_text", cursor_of("hello")),
    bad_cursor("cursor_json_list", cursor_of(json.dumps([MINE]))),
    bad_cursor("cursor_json_string", cursor_of(json.dumps(MINE))),
    bad_cursor("cursor_json_number", cursor_of("42")),
    bad_cursor("cursor_json_null", cursor_of("null")),
    bad_cursor("cursor_json_nested", cursor_of("[" * 150 + "]" * 150)),
    bad_cursor("cursor_without_after", cursor_of(json.dumps({"before": MINE}))),
    bad_cursor("cursor_after_number", cursor_of(json.dumps({"after": 5}))),
    bad_cursor("cursor_after_infinite", cursor_of('{"after": 1e999}')),
    bad_cursor("cursor_after_null", cursor_of(json.dumps({"after": None}))),
    bad_cursor("cursor_after_not_an_id", cursor_of(json.dumps({"after": "x"}))),
    bad_cursor("cursor_after_dynamodb_value", cursor_of(json.dumps({"after": {"S": MINE}}))),
    bad_cursor("cursor_after_traversal", cursor_of(json.dumps({"after": MINE[:-8] + "../x"}))),
    bad_cursor("cursor_standard_base64_with_padding", base64.b64encode(b'{"after": "x"}').decode()),
]


def test_notifications_list_refuses_bad_queries(
    subtests: pytest.Subtests, store: Store, tokens: TokenMinter, aws_requests: Any
) -> None:
    assert_unique([case[0] for case in LIST_CASES])
    seed_notifications()
    headers = tokens.auth(USER)
    for case_id, query, status, code in LIST_CASES:
        with subtests.test(msg=case_id):
            run_refused(
                store,
                aws_requests,
                notifications_handler,
                list_event(query, headers),
                status=status,
                code=code,
                case=case_id,
            )
    with subtests.test(msg="no_token"):
        run_refused(
            store,
            aws_requests,
            notifications_handler,
            list_event({"limit": "5"}, {}),
            status=401,
            code="missing_token",
            case="no_token",
        )


def test_a_cursor_naming_an_id_with_a_trailing_newline_is_refused(
    store: Store, tokens: TokenMinter, aws_requests: Any
) -> None:
    seed_notifications()
    run_refused(
        store,
        aws_requests,
        notifications_handler,
        list_event({"cursor": cursor_of(json.dumps({"after": MINE + "\n"}))}, tokens.auth(USER)),
        status=400,
        code="invalid_cursor",
        case="cursor_after_trailing_newline",
    )


MALFORMED_NOTIFICATION_IDS = [
    ("x", "x"),
    ("dot_dot", ".."),
    ("dot_dot_url_encoded", "%2E%2E"),
    ("slash_url_encoded", "a%2Fb"),
    ("slash_raw", "a/b"),
    ("mine_then_newline", MINE + "%0A"),
    ("mine_then_nul", MINE + "%00"),
    ("mine_then_traversal", MINE + "%2F..%2F" + THEIRS),
    ("mine_lower_case", MINE.lower()),
    ("empty_job_part", notification_id(SEED_TIME, "")),
    ("job_part_65_chars", notification_id(SEED_TIME, "j" * 65)),
    ("iso_timestamp", "2026-01-01T00:00:00Z_job_mine"),
    ("unicode_job_part", notification_id(SEED_TIME, "jöb")),
    ("emoji", "🔔"),
]


def test_marking_a_malformed_or_foreign_notification_read_is_404(
    subtests: pytest.Subtests, store: Store, tokens: TokenMinter, aws_requests: Any
) -> None:
    assert_unique([case_id for case_id, _ in MALFORMED_NOTIFICATION_IDS])
    seed_notifications()  # one unread notification of the caller, one of user_b: neither may change
    headers = tokens.auth(USER)
    for case_id, item_id in MALFORMED_NOTIFICATION_IDS:
        with subtests.test(msg=case_id):
            event = http_api_event("POST", f"/api/notifications/{item_id}/read", headers=headers)
            run_refused(
                store, aws_requests, notifications_handler, event, status=404, code="not_found", case=case_id
            )
    with subtests.test(msg="another_users_notification"):
        event = http_api_event("POST", f"/api/notifications/{THEIRS}/read", headers=headers)
        run_refused(
            store,
            aws_requests,
            notifications_handler,
            event,
            status=404,
            code="not_found",
            case="another_users_notification",
            aws_calls_allowed=True,  # a well-formed id: the one conditional update is allowed
        )
    with subtests.test(msg="no_token"):
        event = http_api_event("POST", f"/api/notifications/{MINE}/read")
        run_refused(
            store,
            aws_requests,
            notifications_handler,
            event,
            status=401,
            code="missing_token",
            case="no_token",
        )
    assert Notification.get(USER, MINE).read is False
    assert Notification.get("user_b", THEIRS).read is False
