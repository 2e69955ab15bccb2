"""The files of deleted jobs leave the bucket asynchronously: a delete puts a message on the file
removal queue (SQS); the remove_files worker deletes them, retried by SQS, its dead-letter queue
alarmed (docs/runbook.md). An erasure removes a page of jobs' files at once, with the same two calls
(`objects_under`, `remove_objects`)."""

import functools
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mediagen.contract.payloads import FileRemovalMessage
from mediagen.core.settings import settings

# S3 DeleteObjects takes at most 1000 keys per request.
DELETE_BATCH = 1000
LIST_WORKERS = 8  # folders listed at once


@functools.cache
def _sqs() -> Any:
    import boto3

    return boto3.client("sqs")


@functools.cache
def _s3() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(max_pool_connections=LIST_WORKERS * 2))


def enqueue(job_id: str, keys: Iterable[str], prefixes: Iterable[str]) -> None:
    """Queue the removal of `keys` and of everything under `prefixes` (one SendMessage)."""
    message = FileRemovalMessage(job_id=job_id, keys=sorted(set(keys)), prefixes=sorted(set(prefixes)))
    _sqs().send_message(
        QueueUrl=settings().require("file_removal_queue_url"), MessageBody=message.model_dump_json()
    )


def remove(message: FileRemovalMessage) -> int:
    """Delete the message's keys and every object under its prefixes. Idempotent (deleting a missing
    key succeeds). Returns how many keys were asked to be deleted."""
    return remove_objects(set(message.keys) | objects_under(message.prefixes))


def objects_under(prefixes: Iterable[str]) -> set[str]:
    """Every key under each prefix: one ListObjectsV2 page per 1,000 objects of a folder, the folders
    listed LIST_WORKERS at a time (an erasure lists a folder per job: its time is that of the slowest
    lists, not their sum)."""
    bucket = settings().require("media_bucket")

    def listed(prefix: str) -> list[str]:
        paginator = _s3().get_paginator("list_objects_v2")
        return [
            entry["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for entry in page.get("Contents", [])
        ]

    wanted = sorted(set(prefixes))
    if len(wanted) <= 1:
        return {key for prefix in wanted for key in listed(prefix)}
    with ThreadPoolExecutor(max_workers=min(LIST_WORKERS, len(wanted))) as pool:
        return {key for keys in pool.map(listed, wanted) for key in keys}


def remove_objects(keys: Iterable[str]) -> int:
    """Delete `keys` from the media bucket, DELETE_BATCH a request. Raises when S3 refuses some (the
    message comes back: SQS retries, then its dead-letter queue). Returns how many were asked."""
    bucket = settings().require("media_bucket")
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), DELETE_BATCH):
        batch = ordered[start : start + DELETE_BATCH]
        answer = _s3().delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
        )
        errors = answer.get("Errors") or []
        if errors:
            raise RuntimeError(f"S3 refused to delete {len(errors)} objects: {errors[0].get('Code')}")
    return len(ordered)
