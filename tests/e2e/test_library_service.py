"""A person's library against the local service (`make run`): the template's routes, the file removal
queue and its worker run as deployed (the local event source mapping)."""

import time
import uuid
from typing import Any

import requests

from tests.e2e.conftest import API_ANSWER_SECONDS, LocalService, json_of
from tests.e2e.test_local_service import deliver, png
from tests.support import TokenMinter, completion_payload

REMOVAL_SECONDS = 60  # the contract: files are removed from the bucket within a minute


def s3_of(service: LocalService) -> tuple[Any, str]:
    import boto3

    info = service.info()
    client = boto3.client(
        "s3",
        endpoint_url=info["aws_endpoint"],
        region_name=info["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return client, info["media_bucket"]


def test_list_pages_then_delete_and_the_files_leave_the_bucket(
    service_off: LocalService, minter: TokenMinter
) -> None:
    # Given 25 completed images of one person, each with a file in the bucket
    s3, bucket = s3_of(service_off)
    user = f"user_lib_{uuid.uuid4().hex[:8]}"
    author = minter.auth(user, org="org_lib")
    ids = [f"lib_{uuid.uuid4().hex[:8]}_{index:02d}" for index in range(25)]
    for job_id in ids:
        s3.put_object(Bucket=bucket, Key=f"images/{job_id}/0.png", Body=png(8, 8))
        payload = completion_payload(job_id, user_id=user, organization_id="org_lib", images=1)
        payload["data"]["images"][0].update(dimensions="8x8")
        assert deliver(service_off, payload).status_code == 200

    # When the person walks the library in pages of 20
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 20} | ({"cursor": cursor} if cursor else {})
        response = requests.get(
            f"{service_off.base}/api/images", params=query, headers=author, timeout=API_ANSWER_SECONDS
        )
        assert response.status_code == 200, response.text
        body = json_of(response)
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    # Then every job once, newest first, each with a preview that downloads
    assert {item["job_id"] for item in seen} == set(ids) and len(seen) == 25
    created = [(item["created_at"], item["job_id"]) for item in seen]
    assert created == sorted(created, reverse=True)
    assert requests.get(seen[0]["preview_url"], timeout=API_ANSWER_SECONDS).content == png(8, 8)

    # When one is deleted
    victim = ids[3]
    deleted = requests.delete(
        f"{service_off.base}/api/images/{victim}", headers=author, timeout=API_ANSWER_SECONDS
    )
    assert (deleted.status_code, json_of(deleted)) == (200, {"job_id": victim, "deleted": True})

    # Then it is gone everywhere, and its file leaves the bucket within a minute
    status = requests.get(
        f"{service_off.base}/api/images/{victim}/status", headers=author, timeout=API_ANSWER_SECONDS
    )
    assert status.status_code == 404
    listed = json_of(
        requests.get(f"{service_off.base}/api/images?limit=100", headers=author, timeout=API_ANSWER_SECONDS)
    )
    assert victim not in {item["job_id"] for item in listed["items"]} and len(listed["items"]) == 24
    notifications = json_of(
        requests.get(
            f"{service_off.base}/api/notifications?limit=100", headers=author, timeout=API_ANSWER_SECONDS
        )
    )
    assert victim not in {n["metadata"]["generation_id"] for n in notifications["items"]}
    assert notifications["unread_count"] == 24
    deadline = time.monotonic() + REMOVAL_SECONDS
    while s3.list_objects_v2(Bucket=bucket, Prefix=f"images/{victim}/").get("KeyCount", 0):
        assert time.monotonic() < deadline, "the deleted job's file is still in the bucket after a minute"
        time.sleep(0.5)
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"images/{ids[4]}/")["KeyCount"] == 1
    # and its id is spent
    late = deliver(service_off, completion_payload(victim, user_id=user, images=1))
    assert (late.status_code, json_of(late)["outcome"]) == (200, "deleted")
    again = requests.delete(
        f"{service_off.base}/api/images/{victim}", headers=author, timeout=API_ANSWER_SECONDS
    )
    assert again.status_code == 404
    foreign = requests.get(
        f"{service_off.base}/api/images",
        params={"cursor": "abc.def"},
        headers=author,
        timeout=API_ANSWER_SECONDS,
    )
    assert (foreign.status_code, json_of(foreign)["code"]) == (400, "invalid_cursor")
