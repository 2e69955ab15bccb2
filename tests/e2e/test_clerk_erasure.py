"""Clerk's account events against `make run`, signed by Svix's own library (`svix` from PyPI, as Clerk's
examples verify and sign them) with the development secret the service prints at start: `user.deleted`
erases the person within a minute (their jobs in two organizations, files, notifications, a job in
flight), a scan of every table and of the bucket finds nothing of theirs, a redelivery changes nothing,
a late webhook brings nothing back; and `make erase` does the same for an operator, with a dry run."""

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from svix.webhooks import Webhook as SvixWebhook

from mediagen.rules.erasure import ERASED_JOB_PREFIX
from tests.e2e.conftest import API_ANSWER_SECONDS, ROOT, LocalService, json_of, own_keys, run_service
from tests.support import TokenMinter, completion_payload, signed_headers

pytestmark = pytest.mark.e2e
PERSON, OPERATOR_CASE, BYSTANDER = "user_2e2eErased", "user_2e2eByHand", "user_2e2eBystander"
PROMPT = "Le phare effacé de bout en bout"
ERASED_WITHIN_SECONDS = 60  # the contract: a deleted person's data is gone within a minute


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, jwks_file: Path) -> Iterator[LocalService]:
    """Stand-in generator off; no CLERK_WEBHOOK_SECRETS: the service makes its development secret."""
    yield from run_service(
        tmp_path_factory.mktemp("clerk"),
        LOCAL_GENERATOR="off",
        ERASURE_FINAL_PASS_DELAY_SECONDS="2",
        **own_keys(jwks_file),
    )


def printed_clerk_secret(service: LocalService) -> str:
    match = re.search(r"clerk secret:\s+(whsec_\S+)\s+\(development secret", service.log.read_text())
    assert match, service.output()
    return match.group(1)


def clerk_delivery(
    service: LocalService, payload: dict[str, Any], secret: str, message_id: str
) -> requests.Response:
    """POST as Svix does: the svix-* headers, the signature made by svix's Webhook.sign."""
    body = json.dumps(payload)
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "svix-id": message_id,
        "svix-timestamp": str(int(now.timestamp())),
        "svix-signature": SvixWebhook(secret).sign(message_id, now, body),
    }
    return requests.post(
        f"{service.base}/api/webhooks/clerk", data=body.encode(), headers=headers, timeout=API_ANSWER_SECONDS
    )


def user_deleted(user_id: str) -> dict[str, Any]:
    return {
        "data": {"deleted": True, "id": user_id, "object": "user"},
        "object": "event",
        "type": "user.deleted",
        "timestamp": int(time.time() * 1000),
        "instance_id": "ins_2e2e",
    }


def aws(service: LocalService, name: str) -> Any:
    info = service.info()
    endpoint = info["dynamodb_endpoint"] if name == "dynamodb" else info["aws_endpoint"]
    make: Any = boto3.client  # one helper for both services
    return make(
        name,
        endpoint_url=endpoint,
        region_name=info["region"],
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def deliver(service: LocalService, payload: dict[str, Any]) -> requests.Response:
    body = json.dumps(payload, ensure_ascii=False)
    return requests.post(
        f"{service.base}/api/webhooks/image-completion",
        data=body.encode(),
        headers=signed_headers(body),
        timeout=API_ANSWER_SECONDS,
    )


def prompt_of(user: str) -> str:
    """The person's prompt is PROMPT (the scan looks for it); anyone else's another."""
    return PROMPT if user == PERSON else f"Le phare de {user}"


def generate(
    service: LocalService, minter: TokenMinter, user: str, job_id: str, org: str | None
) -> requests.Response:
    return requests.post(
        f"{service.base}/api/images/generate",
        json={"prompt": prompt_of(user), "job_id": job_id},
        headers=minter.auth(user, org=org),
        timeout=API_ANSWER_SECONDS,
    )


def give_jobs(service: LocalService, minter: TokenMinter, user: str, prefix: str) -> list[str]:
    """A completed job in one organization (4 files), a queued one in another, a backend-direct one."""
    s3, bucket = aws(service, "s3"), service.info()["media_bucket"]
    done, queued, direct = f"{prefix}_done", f"{prefix}_queued", f"{prefix}_direct"
    assert generate(service, minter, user, done, "org_2e2eA").status_code == 202
    assert generate(service, minter, user, queued, "org_2e2eB").status_code == 202
    for job in (done, direct):
        for index in range(4):
            s3.put_object(Bucket=bucket, Key=f"images/{job}/{index}.png", Body=b"png")
        payload = completion_payload(job, user_id=user, organization_id="org_2e2eA", prompt=prompt_of(user))
        assert deliver(service, payload).status_code == 200
    s3.put_object(Bucket=bucket, Key=f"images/{queued}/partial.png", Body=b"png")
    notifications = json_of(
        requests.get(
            f"{service.base}/api/notifications", headers=minter.auth(user), timeout=API_ANSWER_SECONDS
        )
    )
    assert len(notifications["items"]) == 2
    return [done, queued, direct]


def nothing_left_of(service: LocalService, user: str, jobs: list[str]) -> list[str]:
    """Every item of every table and every key of the bucket that still holds something of `user`: no
    item may name them, their prompt or one of their jobs' ids (an erased job's id is kept spent by a
    record keyed by a keyed hash of it, holding its status `erased` and nothing else)."""
    info = service.info()
    dynamodb, left = aws(service, "dynamodb"), []
    for table in info["tables"].values():
        for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            for item in page["Items"]:
                text = json.dumps(item, ensure_ascii=False)
                key = item.get("job_id", {}).get("S", "")
                if key.startswith(ERASED_JOB_PREFIX) and set(item) != {"job_id", "status"}:
                    left.append(f"{table}: {text[:200]}")
                if user in text or PROMPT in text or any(job in text for job in jobs):
                    left.append(f"{table}: {text[:200]}")
    s3 = aws(service, "s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=info["media_bucket"]):
        left += [
            entry["Key"] for entry in page.get("Contents", []) if any(job in entry["Key"] for job in jobs)
        ]
    return left


def test_user_deleted_signed_by_svix_erases_the_person(service: LocalService, minter: TokenMinter) -> None:
    secret = printed_clerk_secret(service)
    jobs = give_jobs(service, minter, PERSON, "job_e2e_erased")
    bystander = give_jobs(service, minter, BYSTANDER, "job_e2e_bystander")

    # An event Clerk did not sign, or another type: nothing happens
    forged = clerk_delivery(service, user_deleted(PERSON), "whsec_" + "A" * 32, "msg_forged")
    assert (forged.status_code, json_of(forged)["code"]) == (401, "invalid_signature")
    other = clerk_delivery(service, {**user_deleted(PERSON), "type": "user.updated"}, secret, "msg_update")
    assert (other.status_code, json_of(other)["outcome"]) == (200, "ignored")

    # Clerk announces the deletion; Svix delivers it twice
    # Answered before the erasure is done: it is queued (what is queued: test_clerk_webhook.py), not
    # timed here (a loaded machine is slow either way)
    first = clerk_delivery(service, user_deleted(PERSON), secret, "msg_2e2eDeleted")
    assert (first.status_code, json_of(first)["outcome"]) == (200, "erasing")
    again = clerk_delivery(service, user_deleted(PERSON), secret, "msg_2e2eDeleted")
    assert (again.status_code, json_of(again)["outcome"]) == (200, "duplicate")

    # Within a minute: status 404, no notification, and nothing of theirs in any table or the bucket
    deadline = time.monotonic() + ERASED_WITHIN_SECONDS
    while nothing_left_of(service, PERSON, jobs) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert nothing_left_of(service, PERSON, jobs) == []
    for job in jobs:
        status = requests.get(
            f"{service.base}/api/images/{job}/status", headers=minter.auth(PERSON), timeout=API_ANSWER_SECONDS
        )
        assert status.status_code == 404
    notifications = json_of(
        requests.get(
            f"{service.base}/api/notifications", headers=minter.auth(PERSON), timeout=API_ANSWER_SECONDS
        )
    )
    assert (notifications["items"], notifications["unread_count"]) == ([], 0)

    # Nothing brings them back: late webhooks (old id, new id naming them), their own generate
    s3, bucket = aws(service, "s3"), service.info()["media_bucket"]
    for job in (jobs[1], "job_e2e_erased_late"):
        for index in range(4):
            s3.put_object(Bucket=bucket, Key=f"images/{job}/{index}.png", Body=b"png")
        late = deliver(service, completion_payload(job, user_id=PERSON, prompt=PROMPT))
        assert (late.status_code, json_of(late)["outcome"]) == (200, "erased")
    refused = generate(service, minter, PERSON, "job_e2e_erased_again", None)
    assert (refused.status_code, json_of(refused)["code"]) == (401, "account_erased")
    deadline = time.monotonic() + ERASED_WITHIN_SECONDS
    everything = [*jobs, "job_e2e_erased_late", "job_e2e_erased_again"]
    while nothing_left_of(service, PERSON, everything) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert nothing_left_of(service, PERSON, everything) == []

    # The bystander, in the same organization, keeps everything
    for job in bystander[::2]:
        status = requests.get(
            f"{service.base}/api/images/{job}/status",
            headers=minter.auth(BYSTANDER),
            timeout=API_ANSWER_SECONDS,
        )
        assert json_of(status)["status"] == "completed"


def test_make_erase_with_a_dry_run_then_for_real(
    service: LocalService, minter: TokenMinter, tmp_path: Path
) -> None:
    jobs = give_jobs(service, minter, OPERATOR_CASE, "job_e2e_by_hand")
    env = {**os.environ, "PYTHONPATH": "layers/shared:functions:.", "PORT": service.env["PORT"]}
    env["MEDIAGEN_LOCAL_DIR"] = service.env["MEDIAGEN_LOCAL_DIR"]  # the service's hash key
    for variable in [name for name in env if name.startswith("AWS_") or name.endswith("_TABLE")]:
        env.pop(variable)

    def erase(*options: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "deploy.erase", "--user", OPERATOR_CASE, *options]
        return subprocess.run(  # noqa: S603 - our own command line
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    dry = erase("--dry-run", "--report", str(tmp_path / "dry.json"))
    assert dry.returncode == 0, dry.stderr
    report = json.loads((tmp_path / "dry.json").read_text())
    assert (report["jobs"], report["jobs_in_flight"], report["notifications"]) == (3, 1, 2)
    assert report["files"] == 9 and sorted(report["job_ids"]) == sorted(jobs)
    assert "would remove" in dry.stdout
    status = requests.get(
        f"{service.base}/api/images/{jobs[0]}/status",
        headers=minter.auth(OPERATOR_CASE),
        timeout=API_ANSWER_SECONDS,
    )
    assert status.status_code == 200  # the dry run changed nothing

    done = erase("--report", str(tmp_path / "done.json"))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "done.json").read_text())
    assert (report["jobs"], report["files"], report["notifications"]) == (3, 9, 2)
    assert OPERATOR_CASE not in (tmp_path / "done.json").read_text()
    assert nothing_left_of(service, OPERATOR_CASE, jobs) == []

    assert erase("--report", str(tmp_path / "again.json")).returncode == 0
    assert json.loads((tmp_path / "again.json").read_text())["jobs"] == 0  # nothing more, nothing else

    bad = erase("--target", "mars")
    assert bad.returncode == 2 and "TARGET" in bad.stderr
