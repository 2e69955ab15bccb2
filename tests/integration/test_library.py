"""A person's library (contract, "A person's library"): the list routes (pages, scopes, filters,
cursors), the delete (author only, tombstone, notifications, cap, files), timings and retention.

Queries and conditions run on moto's server and on AWS's DynamoDB Local (`aws_server`)."""

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlparse

import boto3
import pytest

from completion_webhook.app import lambda_handler as webhook_handler
from generate.app import lambda_handler as generate_handler
from generation_result.app import lambda_handler as result_handler
from generation_status.app import lambda_handler as status_handler
from library.app import lambda_handler as library_handler
from mediagen.data import dispatch_lease, jobs, library_index
from mediagen.data.models import Generation, Notification, UserJobsInFlight, in_flight_shard
from notifications.app import lambda_handler as notifications_handler
from remove_files.app import lambda_handler as remove_files_handler
from tests.support import (
    MEDIA_BUCKET,
    RequestLog,
    TokenMinter,
    completion_payload,
    http_api_event,
    response_json,
    sqs_event,
    webhook_event,
)

# --- helpers --------------------------------------------------------------------------------------


NOTIFICATION_TOMBSTONE = {"user_id", "notification_id", "deleted_at", "expires_epoch"}


def live_notifications() -> list[Notification]:
    """Every notification in the table but deleted jobs' tombstones, each of which is checked, as
    stored, to hold nothing but its key and expiry (no text, no job id, not unread)."""
    live = []
    table = Notification._get_connection()
    start = None
    while True:
        page = table.scan(consistent_read=True, exclusive_start_key=start)
        for raw in page.get("Items", []):
            if "deleted_at" in raw:
                assert set(raw) <= NOTIFICATION_TOMBSTONE, raw
            else:
                live.append(Notification.from_raw_data(raw))
        start = page.get("LastEvaluatedKey")
        if start is None:
            return live


def list_page(headers: dict[str, str], context: Any, kind: str = "image", **query: Any) -> dict[str, Any]:
    event = http_api_event("GET", f"/api/{kind}s", headers=headers)
    if query:
        event["rawQueryString"] = urlencode(query)
        event["queryStringParameters"] = {k: str(v) for k, v in query.items()}
    return library_handler(event, context)


def walk(headers: dict[str, str], context: Any, kind: str = "image", **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = list_page(headers, context, kind, **query, **({"cursor": cursor} if cursor else {}))
        assert response["statusCode"] == 200, response["body"]
        body = response_json(response)
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def delete(job_id: str, headers: dict[str, str], context: Any, kind: str = "image") -> dict[str, Any]:
    return library_handler(http_api_event("DELETE", f"/api/{kind}s/{job_id}", headers=headers), context)


def generate(job_id: str, headers: dict[str, str], context: Any, kind: str = "image") -> dict[str, Any]:
    body = json.dumps({"prompt": "Un phare breton", "job_id": job_id})
    event = http_api_event(
        "POST", f"/api/{kind}s/generate", body=body, headers={"content-type": "application/json", **headers}
    )
    return generate_handler(event, context)


def status(job_id: str, headers: dict[str, str], context: Any, kind: str = "image") -> dict[str, Any]:
    return status_handler(http_api_event("GET", f"/api/{kind}s/{job_id}/status", headers=headers), context)


def result(job_id: str, headers: dict[str, str], context: Any, kind: str = "image") -> dict[str, Any]:
    return result_handler(http_api_event("GET", f"/api/{kind}s/{job_id}/result", headers=headers), context)


def deliver(payload: dict[str, Any], context: Any, kind: str = "image") -> dict[str, Any]:
    return webhook_handler(webhook_event(payload, kind), context)


def seed_jobs(
    author: str | None,
    count: int,
    *,
    kind: str = "image",
    organization: str | None = None,
    prefix: str = "job",
    status: str = "completed",
    start: datetime | None = None,
) -> list[str]:
    """`count` jobs one minute apart (oldest first), written as generate writes them."""
    start = start or datetime(2025, 1, 1, tzinfo=UTC)
    ids = []
    for index in range(count):
        stamp = start + timedelta(minutes=index)
        job_id = f"{prefix}_{index:04d}"
        job = Generation(
            job_id=job_id,
            kind=kind,
            author_id=author,
            organization_id=organization or "-",
            prompt=f"Un phare {index}",
            status=status,
            progress=100 if status == "completed" else 0,
            source="api",
            created_at=stamp,
            updated_at=stamp,
            completed_at=stamp if status in ("completed", "failed", "canceled") else None,
            in_flight=in_flight_shard(job_id) if status in ("queued", "processing") else None,
        )
        library_index.with_library_keys(job).save()
        ids.append(job_id)
    return ids


def bucket_keys(prefix: str = "") -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=MEDIA_BUCKET, Prefix=prefix)
    return sorted(entry["Key"] for entry in listed.get("Contents", []))


def run_file_removal_worker(context: Any) -> dict[str, Any]:
    """What Lambda's SQS event source does: receive the queue's messages, invoke the worker."""
    sqs = boto3.client("sqs")
    url = os.environ["FILE_REMOVAL_QUEUE_URL"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    answer: dict[str, Any] = remove_files_handler(sqs_event(messages, arn), context)
    failed = {failure["itemIdentifier"] for failure in answer["batchItemFailures"]}
    for message in messages:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return answer


# --- list -----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_server")
def test_pages_of_20_walk_every_job_once_newest_first_one_query_each(
    tokens: TokenMinter, lambda_context: Any, aws_requests: RequestLog
) -> None:
    # Given 45 images of user A (and a video, and another user's images)
    ids = seed_jobs("user_a", 45)
    seed_jobs("user_a", 1, kind="video", prefix="vid")
    seed_jobs("user_b", 3, prefix="other")
    headers = tokens.auth("user_a")

    # When A walks the list in pages of 20
    aws_requests.clear()
    pages = []
    cursor = None
    while True:
        body = response_json(
            list_page(headers, lambda_context, limit=20, **({"cursor": cursor} if cursor else {}))
        )
        pages.append([item["job_id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break

    # Then 3 pages, newest first, every job exactly once, each page one DynamoDB Query and no S3 request
    assert [len(page) for page in pages] == [20, 20, 5]
    assert [job for page in pages for job in page] == list(reversed(ids))
    assert aws_requests.by_operation() == {"dynamodb.Query": 3}


@pytest.mark.usefixtures("aws_server")
def test_an_item_is_the_status_body_with_prompt_model_source_author_and_a_signed_preview(
    tokens: TokenMinter, lambda_context: Any
) -> None:
    # Given a job from generate, completed by the backend, and a job the backend started itself
    headers = tokens.auth("user_a", org="org_1")
    assert generate("job_front", headers, lambda_context)["statusCode"] == 202
    deliver(completion_payload("job_front", user_id="user_a", images=2), lambda_context)
    deliver(
        completion_payload("job_direct", user_id="user_a", status="processing", progress=10), lambda_context
    )

    items = {item["job_id"]: item for item in walk(headers, lambda_context)}

    front, direct = items["job_front"], items["job_direct"]
    assert set(front) == {
        "job_id", "kind", "status", "progress", "created_at", "updated_at", "dispatched_at", "finished_at",
        "prompt", "model", "source", "author_id", "organization_id", "preview_url",
    }  # fmt: skip
    assert (front["status"], front["source"], front["author_id"], front["organization_id"]) == (
        "completed",
        "front-end",
        "user_a",
        "org_1",
    )
    assert front["finished_at"] is not None and front["prompt"] == "Un phare breton"
    preview = urlparse(front["preview_url"])
    assert preview.path.endswith("/images/job_front/0.png") and "X-Amz-Signature" in preview.query
    assert (direct["source"], direct["status"], direct["progress"]) == ("backend-direct", "processing", 10)
    assert (
        direct["preview_url"] is None and direct["finished_at"] is None and direct["organization_id"] is None
    )


@pytest.mark.usefixtures("aws_server")
def test_every_item_field_is_the_status_body_and_the_job_through_both_indexes(
    tokens: TokenMinter, lambda_context: Any
) -> None:
    """Each index serves only what its projection holds: a field the item needs and the projection
    leaves out reads as missing (author_id was "None" through the organization's index)."""
    # Given jobs of two authors of org_1 in every state a list shows: completed (files), failed,
    # processing, queued, and a video
    a, b = tokens.auth("user_a", org="org_1"), tokens.auth("user_b", org="org_1")
    for job_id, headers, kind in [
        ("a_done", a, "image"),
        ("a_running", a, "image"),
        ("a_waiting", a, "image"),
        ("b_failed", b, "image"),
        ("b_video", b, "video"),
    ]:
        assert generate(job_id, headers, lambda_context, kind)["statusCode"] == 202
    deliver(completion_payload("a_done", user_id="user_a", images=2), lambda_context)
    deliver(completion_payload("a_running", status="processing", progress=30), lambda_context)
    deliver(completion_payload("b_failed", status="failed", error="model refused"), lambda_context)
    authors = {"a_done": a, "a_running": a, "a_waiting": a, "b_failed": b, "b_video": b}
    kinds = {"b_video": "video"}

    # When each author lists their own jobs and a member lists the organization's
    mine = {
        item["job_id"]: item
        for headers in (a, b)
        for kind in ("image", "video")
        for item in walk(headers, lambda_context, kind)
    }
    organization = {
        item["job_id"]: item
        for kind in ("image", "video")
        for item in walk(a, lambda_context, kind, scope="organization")
    }

    # Then through both indexes every item is its status body (every field, the same values) plus the
    # job's prompt, model, source, real author and organization
    assert set(mine) == set(organization) == set(authors)
    for job_id, headers in authors.items():
        kind = kinds.get(job_id, "image")
        status_body = response_json(status(job_id, headers, lambda_context, kind))
        author = "user_a" if headers is a else "user_b"
        for item in (mine[job_id], organization[job_id]):
            assert {key: item.get(key, "<missing>") for key in status_body} == status_body, job_id
            assert (item["author_id"], item["organization_id"], item["source"]) == (
                author,
                "org_1",
                "front-end",
            ), job_id
            assert item["prompt"] == "Un phare breton", job_id
            assert set(item) == set(status_body) | {
                "prompt", "model", "source", "author_id", "organization_id", "preview_url"
            }, job_id  # fmt: skip
        preview_paths = {
            urlparse(i["preview_url"]).path if i["preview_url"] else None
            for i in (mine[job_id], organization[job_id])
        }
        assert len(preview_paths) == 1, job_id
        without_preview = [
            {k: v for k, v in i.items() if k != "preview_url"} for i in (mine[job_id], organization[job_id])
        ]
        assert without_preview[0] == without_preview[1], job_id
    assert urlparse(mine["a_done"]["preview_url"]).path.endswith("/images/a_done/0.png")
    assert mine["a_done"]["model"] == response_json(result("a_done", a, lambda_context))["model"]


@pytest.mark.usefixtures("aws_server")
def test_scopes_mine_and_organization(tokens: TokenMinter, lambda_context: Any) -> None:
    # Given A's jobs in org_1 and privately, B's job in org_1, C's job in org_2
    seed_jobs("user_a", 2, organization="org_1", prefix="a_org")
    seed_jobs("user_a", 1, prefix="a_private")
    seed_jobs("user_b", 1, organization="org_1", prefix="b_org")
    seed_jobs("user_c", 1, organization="org_2", prefix="c_org")

    mine = {i["job_id"] for i in walk(tokens.auth("user_a", org="org_2"), lambda_context)}
    org = {
        i["job_id"] for i in walk(tokens.auth("user_b", org="org_1"), lambda_context, scope="organization")
    }
    no_org = list_page(tokens.auth("user_a"), lambda_context, scope="organization")

    # Then mine is every job A authored, in any organization; the organization's whoever authored them
    assert mine == {"a_org_0000", "a_org_0001", "a_private_0000"}
    assert org == {"a_org_0000", "a_org_0001", "b_org_0000"}
    assert no_org["statusCode"] == 422
    assert response_json(no_org)["code"] == "no_active_organization"


@pytest.mark.usefixtures("aws_server")
def test_status_filter_and_kinds(tokens: TokenMinter, lambda_context: Any) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    seed_jobs("user_a", 30, prefix="done", start=start)
    seed_jobs("user_a", 3, prefix="bad", status="failed", start=start + timedelta(hours=1))
    seed_jobs("user_a", 2, kind="video", prefix="vid", start=start)
    headers = tokens.auth("user_a")

    failed = walk(headers, lambda_context, status="failed", limit=2)
    videos = walk(headers, lambda_context, kind="video")

    assert [item["job_id"] for item in failed] == ["bad_0002", "bad_0001", "bad_0000"]
    assert all(item["error"] for item in failed)
    assert [item["job_id"] for item in videos] == ["vid_0001", "vid_0000"]


@pytest.mark.usefixtures("aws_server")
def test_aliases_and_unattributed_jobs_are_never_items(tokens: TokenMinter, lambda_context: Any) -> None:
    # Given an unattributed job (old payload, no user) and a job with an alias (a merged double entry)
    deliver(completion_payload("job_nobody"), lambda_context)
    [job_id] = seed_jobs("user_a", 1)
    job = Generation.get(job_id)
    jobs.create_job(jobs.alias_item("c76c36ee-838d-4ecb-94ed-37018032c9fd", job))

    items = walk(tokens.auth("user_a"), lambda_context)

    assert [item["job_id"] for item in items] == [job_id]


@pytest.mark.usefixtures("aws_server")
def test_a_webhook_naming_an_organization_never_lists_a_private_job_there(
    tokens: TokenMinter, lambda_context: Any
) -> None:
    # Given A's private job from generate, then a webhook naming org_1 for it
    assert generate("job_private", tokens.auth("user_a"), lambda_context)["statusCode"] == 202
    deliver(completion_payload("job_private", user_id="user_a", organization_id="org_1"), lambda_context)
    # and a job the backend started with a user and org_1
    deliver(completion_payload("job_org", user_id="user_a", organization_id="org_1"), lambda_context)

    org = walk(tokens.auth("user_m", org="org_1"), lambda_context, scope="organization")

    assert [item["job_id"] for item in org] == ["job_org"]


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"status": "done"},
        {"scope": "everyone"},
        {"sort": "oldest"},
    ],
)
def test_bad_query_parameters_are_422(
    query: dict[str, Any], tokens: TokenMinter, lambda_context: Any
) -> None:
    response = list_page(tokens.auth("user_a"), lambda_context, **query)
    assert response["statusCode"] == 422
    assert response_json(response)["code"] == "validation_error"


@pytest.mark.usefixtures("aws")
def test_cursors_are_bound_to_caller_kind_scope_and_filters(tokens: TokenMinter, lambda_context: Any) -> None:
    # Given a cursor that A got for images, scope mine, no filter
    seed_jobs("user_a", 3)
    seed_jobs("user_b", 3, prefix="b")
    seed_jobs("user_a", 3, organization="org_1", prefix="org")
    headers = tokens.auth("user_a", org="org_1")
    cursor = response_json(list_page(headers, lambda_context, limit=1))["next_cursor"]
    assert cursor

    payload, mac = cursor.split(".")
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    refusals = {
        "another user": list_page(tokens.auth("user_b"), lambda_context, limit=1, cursor=cursor),
        "another kind": list_page(headers, lambda_context, "video", limit=1, cursor=cursor),
        "another scope": list_page(headers, lambda_context, limit=1, cursor=cursor, scope="organization"),
        "another filter": list_page(headers, lambda_context, limit=1, cursor=cursor, status="completed"),
        "tampered": list_page(headers, lambda_context, limit=1, cursor=f"{flipped}.{mac}"),
        "garbage": list_page(headers, lambda_context, limit=1, cursor="not-a-cursor"),
        "no mac": list_page(headers, lambda_context, limit=1, cursor=payload),
        "bad base64": list_page(headers, lambda_context, limit=1, cursor="%%%.###"),
        # The contract's answer whatever the shape: not a 422 of the query's validation
        "600 characters": list_page(headers, lambda_context, limit=1, cursor="x" * 600),
        "513 characters": list_page(headers, lambda_context, limit=1, cursor=f"{payload}.{'A' * 500}"),
        "empty": list_page(headers, lambda_context, limit=1, cursor=""),
    }
    for name, response in refusals.items():
        assert response["statusCode"] == 400, name
        assert response_json(response)["code"] == "invalid_cursor", name
    # And the cursor itself works for its own caller and filters
    assert list_page(headers, lambda_context, limit=1, cursor=cursor)["statusCode"] == 200


@pytest.mark.usefixtures("aws")
def test_list_without_token_is_401(lambda_context: Any) -> None:
    assert list_page({}, lambda_context)["statusCode"] == 401
    assert delete("job_x", {}, lambda_context)["statusCode"] == 401


# --- timings --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_server")
def test_timings_are_null_until_they_happen(tokens: TokenMinter, lambda_context: Any) -> None:
    headers = tokens.auth("user_a")
    generate("job_t", headers, lambda_context)
    queued = response_json(status("job_t", headers, lambda_context))
    assert (queued["dispatched_at"], queued["finished_at"]) == (None, None)
    assert "expires_at" not in queued  # no retention set

    dispatched = datetime.now(UTC)
    dispatch_lease.record_dispatched("job_t", None, dispatched)
    deliver(completion_payload("job_t", user_id="user_a"), lambda_context)
    done = response_json(status("job_t", headers, lambda_context))

    assert datetime.fromisoformat(done["dispatched_at"]) == dispatched
    finished = datetime.fromisoformat(done["finished_at"])
    assert datetime.fromisoformat(done["created_at"]) <= finished
    assert datetime.fromisoformat(done["dispatched_at"]) <= finished


# --- delete ---------------------------------------------------------------------------------------


def put_files(job_id: str, count: int = 4) -> list[str]:
    s3 = boto3.client("s3")
    keys = [f"images/{job_id}/{index}.png" for index in range(count)] + [f"images/{job_id}/extra.txt"]
    for key in keys:
        s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=b"png")
    return keys


@pytest.mark.usefixtures("aws_server")
def test_the_author_deletes_a_job_and_it_is_gone_everywhere(tokens: TokenMinter, lambda_context: Any) -> None:
    # Given A's completed job with files, its unread notification, an alias, and another job of A's
    headers = tokens.auth("user_a", org="org_1")
    generate("job_del", headers, lambda_context)
    dispatch_lease.record_dispatched("job_del", "c76c36ee-838d-4ecb-94ed-37018032c9fd", datetime.now(UTC))
    jobs.record_alias("c76c36ee-838d-4ecb-94ed-37018032c9fd", Generation.get("job_del"))
    put_files("job_del")
    put_files("job_keep")
    deliver(completion_payload("job_del", user_id="user_a"), lambda_context)
    deliver(completion_payload("job_keep", user_id="user_a"), lambda_context)
    notifications = response_json(
        notifications_handler(http_api_event("GET", "/api/notifications", headers=headers), lambda_context)
    )
    assert notifications["unread_count"] == 2

    # When A deletes it
    response = delete("job_del", headers, lambda_context)

    # Then 200, and 404 everywhere: status, result, by the job id and by its alias
    assert (response["statusCode"], response_json(response)) == (200, {"job_id": "job_del", "deleted": True})
    for job_id in ("job_del", "c76c36ee-838d-4ecb-94ed-37018032c9fd"):
        assert status(job_id, headers, lambda_context)["statusCode"] == 404
        assert result(job_id, headers, lambda_context)["statusCode"] == 404
    # in no list (mine, organization)
    assert [i["job_id"] for i in walk(headers, lambda_context)] == ["job_keep"]
    assert [i["job_id"] for i in walk(headers, lambda_context, scope="organization")] == []
    # its notification gone from the list and from unread_count
    page = response_json(
        notifications_handler(http_api_event("GET", "/api/notifications", headers=headers), lambda_context)
    )
    assert [n["metadata"]["generation_id"] for n in page["items"]] == ["job_keep"]
    assert page["unread_count"] == 1
    # its files removed by the worker (every one under its folder), the other job's kept
    assert run_file_removal_worker(lambda_context) == {"batchItemFailures": []}
    assert bucket_keys("images/job_del/") == []
    assert len(bucket_keys("images/job_keep/")) == 5
    # its item a tombstone: id, kind and times only (no author, prompt, files), in no index
    tombstone = Generation.get("job_del")
    assert tombstone.status == "deleted" and tombstone.author_id is None and tombstone.files is None
    assert tombstone.prompt is None and tombstone.library_sort is None
    assert Generation.get("c76c36ee-838d-4ecb-94ed-37018032c9fd").status == "deleted"

    # And its id is spent: a late webhook is acknowledged `deleted` and stores nothing; generate is 409
    before = sorted(json.dumps(g.serialize(), sort_keys=True) for g in Generation.scan())
    late = deliver(completion_payload("job_del", user_id="user_a"), lambda_context)
    via_alias = deliver(completion_payload("c76c36ee-838d-4ecb-94ed-37018032c9fd"), lambda_context)
    assert (late["statusCode"], response_json(late)["outcome"]) == (200, "deleted")
    assert (via_alias["statusCode"], response_json(via_alias)["outcome"]) == (200, "deleted")
    assert sorted(json.dumps(g.serialize(), sort_keys=True) for g in Generation.scan()) == before
    assert [n.generation_id for n in live_notifications()] == ["job_keep"]
    reuse = generate("job_del", headers, lambda_context)
    assert (reuse["statusCode"], response_json(reuse)["code"]) == (409, "job_id_taken")
    # Deleting it again (or by its alias) is 404
    assert delete("job_del", headers, lambda_context)["statusCode"] == 404
    assert delete("c76c36ee-838d-4ecb-94ed-37018032c9fd", headers, lambda_context)["statusCode"] == 404


@pytest.mark.usefixtures("aws_server")
def test_the_files_a_late_webhook_names_for_a_deleted_job_are_removed(
    tokens: TokenMinter, lambda_context: Any
) -> None:
    headers = tokens.auth("user_a")
    generate("job_late", headers, lambda_context)
    assert delete("job_late", headers, lambda_context)["statusCode"] == 200
    run_file_removal_worker(lambda_context)
    put_files("job_late")  # the backend finished anyway

    late = deliver(completion_payload("job_late", user_id="user_a"), lambda_context)

    assert response_json(late)["outcome"] == "deleted"
    run_file_removal_worker(lambda_context)
    assert bucket_keys("images/job_late/") == ["images/job_late/extra.txt"]  # named ones only


@pytest.mark.usefixtures("aws_server")
def test_only_the_author_may_delete(tokens: TokenMinter, lambda_context: Any) -> None:
    generate("job_mine", tokens.auth("user_a", org="org_1"), lambda_context)
    deliver(completion_payload("job_nobody"), lambda_context)
    before = sorted(json.dumps(g.serialize(), sort_keys=True) for g in Generation.scan())

    colleague = delete("job_mine", tokens.auth("user_m", org="org_1"), lambda_context)
    stranger = delete("job_mine", tokens.auth("user_b"), lambda_context)
    unknown = delete("job_unknown", tokens.auth("user_a"), lambda_context)
    wrong_kind = delete("job_mine", tokens.auth("user_a"), lambda_context, kind="video")
    unattributed = delete("job_nobody", tokens.auth("user_a"), lambda_context)
    bad_id = delete("job..%2F", tokens.auth("user_a"), lambda_context)

    assert (colleague["statusCode"], response_json(colleague)["code"]) == (403, "not_author")
    for response in (stranger, unknown, wrong_kind, unattributed, bad_id):
        assert (response["statusCode"], response_json(response)["code"]) == (404, "not_found")
    assert sorted(json.dumps(g.serialize(), sort_keys=True) for g in Generation.scan()) == before


@pytest.mark.usefixtures("aws_server")
def test_deleting_a_job_in_flight_cancels_it_and_frees_its_place(
    tokens: TokenMinter, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a user at a cap of 2, one job queued and one processing
    monkeypatch.setenv("MAX_JOBS_IN_FLIGHT_PER_USER", "2")
    headers = tokens.auth("user_a")
    assert generate("job_1", headers, lambda_context)["statusCode"] == 202
    assert generate("job_2", headers, lambda_context)["statusCode"] == 202
    deliver(completion_payload("job_2", user_id="user_a", status="processing", progress=30), lambda_context)
    assert generate("job_3", headers, lambda_context)["statusCode"] == 429

    # When both are deleted
    assert delete("job_1", headers, lambda_context)["statusCode"] == 200
    assert delete("job_2", headers, lambda_context)["statusCode"] == 200

    # Then they left the set of jobs in flight, the in-flight index, and the cap: two new jobs fit
    assert not (UserJobsInFlight.get("user_a").job_ids or set())
    assert list(Generation.in_flight_jobs.scan()) == []
    assert generate("job_3", headers, lambda_context)["statusCode"] == 202
    assert generate("job_4", headers, lambda_context)["statusCode"] == 202
    # and a later completion for a deleted one stores nothing, notifies nobody
    late = deliver(completion_payload("job_2", user_id="user_a"), lambda_context)
    assert response_json(late)["outcome"] == "deleted"
    assert live_notifications() == []


@pytest.mark.usefixtures("aws_server")
def test_delete_is_two_dynamodb_requests_and_one_message(
    tokens: TokenMinter, lambda_context: Any, aws_requests: RequestLog
) -> None:
    headers = tokens.auth("user_a")
    deliver(completion_payload("job_count", user_id="user_a"), lambda_context)
    aws_requests.clear()
    assert delete("job_count", headers, lambda_context)["statusCode"] == 200
    assert aws_requests.by_operation() == {
        "dynamodb.GetItem": 1,
        "dynamodb.TransactWriteItems": 1,
        "sqs.SendMessage": 1,
    }


@pytest.mark.usefixtures("aws_server")
def test_the_webhook_stays_at_two_dynamodb_requests(
    tokens: TokenMinter, lambda_context: Any, aws_requests: RequestLog
) -> None:
    # A delivery to a job generate made: its UpdateItem, then its notification's transaction
    assert generate("job_two", tokens.auth("user_a", org="org_1"), lambda_context)["statusCode"] == 202
    aws_requests.clear()
    deliver(completion_payload("job_two", user_id="user_a", organization_id="org_1"), lambda_context)
    assert aws_requests.count("dynamodb") == 2
    # A create on missing: one more, the create's transaction checking the id was not erased
    aws_requests.clear()
    deliver(completion_payload("job_three", user_id="user_a", organization_id="org_1"), lambda_context)
    assert aws_requests.by_operation() == {"dynamodb.UpdateItem": 1, "dynamodb.TransactWriteItems": 2}


# --- retention ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_server")
def test_an_expired_job_is_treated_as_deleted(
    tokens: TokenMinter, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a retention of 7 days, a job finished 8 days ago and one finished now
    monkeypatch.setenv("RETENTION_DAYS", "7")
    headers = tokens.auth("user_a")
    old_start = datetime.now(UTC) - timedelta(days=8)
    [old] = seed_jobs("user_a", 1, prefix="old", start=old_start)
    deliver(completion_payload("job_new", user_id="user_a"), lambda_context)

    # Then the old one is 404, in no list, cannot be deleted, its id spent; the new one carries expires_at
    assert status(old, headers, lambda_context)["statusCode"] == 404
    assert result(old, headers, lambda_context)["statusCode"] == 404
    assert [i["job_id"] for i in walk(headers, lambda_context)] == ["job_new"]
    assert delete(old, headers, lambda_context)["statusCode"] == 404
    assert (
        response_json(deliver(completion_payload(old, user_id="user_a"), lambda_context))["outcome"]
        == "deleted"
    )
    assert generate(old, headers, lambda_context)["statusCode"] == 409
    new = response_json(status("job_new", headers, lambda_context))
    expected = datetime.fromisoformat(new["finished_at"]) + timedelta(days=7)
    assert datetime.fromisoformat(new["expires_at"]) == expected
    # DynamoDB's TTL attribute is written with the final state
    assert int(Generation.get("job_new").expires_epoch) == int(expected.timestamp())
    # and an item in flight has no expiry yet
    generate("job_queued", headers, lambda_context)
    assert response_json(status("job_queued", headers, lambda_context))["expires_at"] is None


@pytest.mark.usefixtures("aws")
def test_a_migration_run_again_keeps_a_deleted_jobs_notification_tombstone(lambda_context: Any) -> None:
    from datetime import UTC as utc

    from mediagen.data import notifications as notification_data
    from mediagen.rules.notifications import job_notification
    from migration.report import Report
    from migration.writer import Writer

    # Given a migrated job's notification whose job the author deleted since (its tombstone stands)
    finished = datetime(2025, 3, 1, 12, 0, tzinfo=utc)
    notification = job_notification(
        user_id="user_a",
        job_id="job_migrated",
        kind="image",
        status="completed",
        finished_at=finished,
        source="api",
        file_count=1,
        error=None,
    )
    Notification(notification.user_id, notification.notification_id).update(
        actions=notification_data.tombstone_actions(datetime.now(utc))
    )
    report = Report({})
    writer = Writer(report, workers=1, dry_run=False)
    try:
        # When the migration is run again and meets it
        outcome = writer.put_if_absent(notification)
    finally:
        writer.close()
        report.close()

    # Then the tombstone is kept as found (listed), and the notification is not brought back
    assert outcome == "kept_as_found"
    assert live_notifications() == []
