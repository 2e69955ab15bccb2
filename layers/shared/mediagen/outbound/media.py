"""Short-lived signed S3 GET URLs for a job's files, made locally by the SDK (no request to S3)."""

import functools
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
