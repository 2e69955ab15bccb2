"""The files of deleted jobs leave the bucket asynchronously: a delete puts a message on the file
removal queue (SQS); the remove_files worker deletes them, retried by SQS, its dead-letter queue
alarmed (docs/runbook.md)."""

import functools
from collections.abc import Iterable
from typing import Any

from mediagen.contract.payloads import FileRemovalMessage
from mediagen.core.settings import settings

# S3 DeleteObjects takes at most 1000 keys per request.
DELETE_BATCH = 1000


@functools.cache
def _sqs() -> Any:
    import boto3

    return boto3.client("sqs")


@functools.cache
def _s3() -> Any:
    import boto3

    return boto3.client("s3")


def enqueue(job_id: str, keys: Iterable[str], prefixes: Iterable[str]) -> None:
    """Queue the removal of `keys` and of everything under `prefixes` (one SendMessage)."""
    message = FileRemovalMessage(job_id=job_id, keys=sorted(set(keys)), prefixes=sorted(set(prefixes)))
    _sqs().send_message(
        QueueUrl=settings().require("file_removal_queue_url"), MessageBody=message.model_dump_json()
    )


def remove(message: FileRemovalMessage) -> int:
    """Delete the message's keys and every object under its prefixes: DeleteObjects in batches, after
    one ListObjectsV2 page per 1000 objects of a folder. Idempotent (deleting a missing key succeeds).
    Returns how many keys were asked to be deleted."""
    bucket = settings().require("media_bucket")
    keys = set(message.keys)
    for prefix in message.prefixes:
        paginator = _s3().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys.update(entry["Key"] for entry in page.get("Contents", []))
    ordered = sorted(keys)
    for start in range(0, len(ordered), DELETE_BATCH):
        batch = ordered[start : start + DELETE_BATCH]
        answer = _s3().delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
        )
        errors = answer.get("Errors") or []
        if errors:  # the message comes back (SQS retries, then its dead-letter queue)
            raise RuntimeError(
                f"S3 refused to delete {len(errors)} of the job's files: {errors[0].get('Code')}"
            )
    return len(ordered)
