"""The erasure queue (SQS): the Clerk webhook puts a person on it; the erasure worker erases them."""

import functools
from typing import Any

from mediagen.contract.payloads import ErasureMessage
from mediagen.core.settings import settings


@functools.cache
def _sqs() -> Any:
    import boto3

    return boto3.client("sqs")


def enqueue(user_id: str, *, final_pass: bool = False) -> None:
    _sqs().send_message(
        QueueUrl=settings().require("erasure_queue_url"),
        MessageBody=ErasureMessage(user_id=user_id, final_pass=final_pass).model_dump_json(),
        # The last pass waits for the per-author index (eventually consistent, usually within a second)
        # to show a job written while the first pass ran.
        DelaySeconds=settings().erasure_final_pass_delay_seconds if final_pass else 0,
    )
