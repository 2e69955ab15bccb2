"""The erasure queue (SQS): the Clerk webhook puts a person on it; the erasure worker erases them."""

import functools
from typing import Any

from mediagen.contract.payloads import ErasureMessage
from mediagen.core.settings import settings

# The last pass runs this long after the first: long enough for the per-author index (eventually
# consistent, usually within a second) to show a job written while the first pass ran.
FINAL_PASS_DELAY_SECONDS = 20


@functools.cache
def _sqs() -> Any:
    import boto3

    return boto3.client("sqs")


def enqueue(user_id: str, *, final_pass: bool = False) -> None:
    _sqs().send_message(
        QueueUrl=settings().require("erasure_queue_url"),
        MessageBody=ErasureMessage(user_id=user_id, final_pass=final_pass).model_dump_json(),
        DelaySeconds=FINAL_PASS_DELAY_SECONDS if final_pass else 0,
    )
