"""The media bucket: short-lived signed GET URLs of a job's files (made locally by the SDK, no request to
S3), and the removal of files (erasure, deletes)."""

import functools
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mediagen.core.settings import settings

URL_LIFETIME_SECONDS = 15 * 60


@functools.cache
def _s3_client() -> Any:
    import boto3
    from botocore.config import Config

    # SigV4 with the regional endpoint: the URL is valid at once, whatever the bucket's region setup.
    return boto3.client("s3", config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))


def signed_url(key: str) -> str:
    url: str = _s3_client().generate_presigned_url(
        "get_object",
        Params={"Bucket": settings().require("media_bucket"), "Key": key},
        ExpiresIn=URL_LIFETIME_SECONDS,
    )
    return url


# S3 DeleteObjects takes at most 1,000 keys a request.
DELETE_BATCH = 1000
# Folders are listed in parallel: one ListObjectsV2 each (a job's folder holds a few files), so the
# time of an erasure is that of its slowest lists, not their sum.
LIST_WORKERS = 8


@functools.cache
def _s3_requests() -> Any:
    """The client of S3 requests (listing, deleting): the default configuration, a pool as large as
    the parallel lists."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(max_pool_connections=LIST_WORKERS * 2))


def objects_under(prefixes: Iterable[str]) -> set[str]:
    """Every key under each prefix (ListObjectsV2, one request per 1,000 keys of a folder)."""
    bucket = settings().require("media_bucket")

    def listed(prefix: str) -> list[str]:
        paginator = _s3_requests().get_paginator("list_objects_v2")
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
    """Delete `keys` from the media bucket, 1,000 a request (deleting a missing key succeeds: idempotent).
    Raises when S3 refuses some, so the caller's retry deletes them. Returns how many were asked."""
    bucket = settings().require("media_bucket")
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), DELETE_BATCH):
        batch = ordered[start : start + DELETE_BATCH]
        answer = _s3_requests().delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
        )
        errors = answer.get("Errors") or []
        if errors:
            raise RuntimeError(f"S3 refused to delete {len(errors)} objects: {errors[0].get('Code')}")
    return len(ordered)
