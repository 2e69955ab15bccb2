"""A person with everything the service can hold of them, a bystander beside them, and the scan that
finds what is left of the person in every table and in the bucket (the erasure tests and the bench).

The person (PERSON) has: a completed job in one organization and a failed one in another (both by
generate), a queued job in flight (its id in JobsInFlight, a partial upload in its folder), a job the
backend created for them by webhook, a job brought over from the old system with an alias and files
outside the job folder pattern, their notifications, and a notification of someone else's job addressed
to them. The bystander (BYSTANDER) has a job in the same organization, its files and its notification.
"""

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from local.harness.parties import MEDIA_BUCKET, completion_payload

PERSON = "user_2erasedPerson"
BYSTANDER = "user_2bystander"
PERSON_PROMPT = "Le phare de la personne effacée"
ORG_A, ORG_B = "org_2alpha", "org_2beta"
MIGRATED_JOB, MIGRATED_ALIAS = "cmh3migrated0001gg0lwosk26", "c76c36ee-838d-4ecb-94ed-37018032c9fd"


@dataclass
class World:
    """What was made, by id: the person's jobs and files, the bystander's."""

    person_jobs: list[str] = field(default_factory=list)
    person_files: set[str] = field(default_factory=set)
    bystander_jobs: list[str] = field(default_factory=list)
    bystander_files: set[str] = field(default_factory=set)


def put_files(keys: list[str]) -> None:
    s3 = boto3.client("s3")
    for key in keys:
        s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=b"\x89PNG fake")


def image_keys(job_id: str, count: int = 4) -> list[str]:
    return [f"images/{job_id}/{index}.png" for index in range(count)]


def generate_event(
    user: str, tokens: Any, *, org: str | None, job_id: str, prompt: str = PERSON_PROMPT
) -> dict[str, Any]:
    from deploy.base.lambda_events import http_api_event

    body = json.dumps({"prompt": prompt, "job_id": job_id})
    headers = {"content-type": "application/json", **tokens.auth(user, org=org)}
    return http_api_event("POST", "/api/images/generate", body=body, headers=headers)


def build_world(tokens: Any, context: Any) -> World:
    """Everything above, through the handlers (generate, the completion webhook) where the service
    makes it, and written as the migration writes it for the old system's job."""
    from completion_webhook.app import lambda_handler as webhook
    from generate.app import lambda_handler as generate
    from local.harness.parties import webhook_event

    world = World()

    def made(response: dict[str, Any]) -> None:
        assert response["statusCode"] in (200, 202), response

    for user, org, job_id, status in (
        (PERSON, ORG_A, "job_person_done", "completed"),
        (PERSON, ORG_B, "job_person_failed", "failed"),
        (PERSON, None, "job_person_queued", None),
        (BYSTANDER, ORG_A, "job_bystander_done", "completed"),
    ):
        prompt = PERSON_PROMPT if user == PERSON else "Le phare du voisin"
        made(generate(generate_event(user, tokens, org=org, job_id=job_id, prompt=prompt), context))
        if status:
            keys = image_keys(job_id) if status == "completed" else []
            put_files(keys)
            payload = completion_payload(
                job_id, status=status, user_id=user, organization_id=org, prompt=prompt
            )
            if status == "failed":
                payload["error"] = "model refused"
            made(webhook(webhook_event(payload), context))
        mine = user == PERSON
        (world.person_jobs if mine else world.bystander_jobs).append(job_id)
        (world.person_files if mine else world.bystander_files).update(
            image_keys(job_id) if status == "completed" else []
        )
    # A partial upload of the queued job: in its folder, named by no webhook yet.
    put_files(["images/job_person_queued/partial.png"])
    world.person_files.add("images/job_person_queued/partial.png")
    # A job the backend started by itself for the person (create on missing, attributed).
    put_files(image_keys("job_person_direct", 2))
    direct = completion_payload("job_person_direct", user_id=PERSON, images=2, prompt=PERSON_PROMPT)
    made(webhook(webhook_event(direct), context))
    world.person_jobs.append("job_person_direct")
    world.person_files.update(image_keys("job_person_direct", 2))
    # The old system's merged job: an alias, a file under the old key layout, a read notification.
    world.person_files.update(_migrated_job())
    world.person_jobs.append(MIGRATED_JOB)
    # A notification addressed to the person about a job that is not theirs (the old system did that).
    _notification(PERSON, "job_bystander_done", datetime(2025, 6, 1, tzinfo=UTC))
    return world


def _migrated_job() -> list[str]:
    from mediagen.data.jobs import alias_item
    from mediagen.data.library_index import with_library_keys
    from mediagen.data.models import GeneratedFile, Generation

    created = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    finished = created + timedelta(minutes=2)
    key = f"generations/{MIGRATED_JOB}/0.png"  # the old system's key, kept unchanged
    put_files([key])
    job = Generation(
        job_id=MIGRATED_JOB,
        kind="image",
        author_id=PERSON,
        organization_id=ORG_A,
        prompt=PERSON_PROMPT,
        status="completed",
        progress=100,
        source="api",
        created_at=created,
        updated_at=finished,
        completed_at=finished,
        alias_ids={MIGRATED_ALIAS},
        files=[GeneratedFile(s3_key=key, size_bytes=10, format="png", width=1, height=1, aspect_ratio="1x1")],
    )
    with_library_keys(job).save()
    alias_item(MIGRATED_ALIAS, job).save()
    _notification(PERSON, MIGRATED_JOB, finished, read=True)
    return [key]


def _notification(user: str, job_id: str, finished: datetime, *, read: bool = False) -> None:
    from mediagen.data.models import Notification
    from mediagen.data.notifications import notification_id

    Notification(
        user_id=user,
        notification_id=notification_id(finished, job_id),
        unread_user_id=None if read else user,
        type="IMAGE_COMPLETED",
        title="🎨 Images générées avec succès",
        message="1 image(s) créée(s).",
        read=read,
        created_at=finished,
        generation_id=job_id,
        source="api",
    ).save()


# --- The scan -------------------------------------------------------------------------------------


def every_item() -> dict[str, list[dict[str, Any]]]:
    """Every item of every table of the stack (the names of TABLE_ENV), raw, by table variable."""
    from deploy.base.cfn_template import TABLE_ENV

    client = boto3.client("dynamodb")
    found: dict[str, list[dict[str, Any]]] = {}
    for variable in TABLE_ENV.values():
        items: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(
            TableName=os.environ[variable], ConsistentRead=True
        ):
            items += page["Items"]
        found[variable] = items
    return found


def every_key() -> set[str]:
    s3 = boto3.client("s3")
    return {
        entry["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=MEDIA_BUCKET)
        for entry in page.get("Contents", [])
    }


def whats_left_of(world: World) -> list[str]:
    """Everything of the person still stored: an item naming them, their prompt or one of their jobs'
    ids (no record under an erased job's id: only its erased record, keyed by a keyed hash of the id,
    with its status `erased` and nothing else), or one of their files. Empty: erased."""
    from mediagen.rules.erasure import ERASED_JOB_PREFIX

    left = []
    person_jobs = {*world.person_jobs, MIGRATED_ALIAS}
    for table, items in every_item().items():
        for item in items:
            text = json.dumps(item, ensure_ascii=False)
            job_id = item.get("job_id", {}).get("S", "")
            if job_id.startswith(ERASED_JOB_PREFIX) and item != {
                "job_id": item["job_id"],
                "status": {"S": "erased"},
            }:
                left.append(f"{table}: an erased record holds more than its status: {text[:200]}")
            if PERSON in text or PERSON_PROMPT in text or any(job in text for job in person_jobs):
                left.append(f"{table}: {text[:200]}")
    left += [f"bucket: {key}" for key in sorted(every_key() & world.person_files)]
    left += [f"bucket: {key}" for key in sorted(every_key()) if any(job in key for job in person_jobs)]
    return left


def bystander_intact(world: World) -> list[str]:
    """What the erasure must not have touched: the bystander's jobs, files and notification."""
    items = every_item()
    problems = []
    jobs = {item["job_id"]["S"]: item for item in items["GENERATIONS_TABLE"]}
    for job_id in world.bystander_jobs:
        if jobs.get(job_id, {}).get("author_id", {}).get("S") != BYSTANDER:
            problems.append(f"job {job_id} of the bystander changed")
    problems += [
        f"file {key} of the bystander removed" for key in sorted(world.bystander_files - every_key())
    ]
    if not any(item["user_id"]["S"] == BYSTANDER for item in items["NOTIFICATIONS_TABLE"]):
        problems.append("the bystander's notification is gone")
    return problems
