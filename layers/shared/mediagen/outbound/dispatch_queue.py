"""The dispatch queue (SQS): generate puts a job id on it; the dispatcher sends the job to the backend."""

import functools
from typing import Any

from mediagen.contract.payloads import DispatchMessage
from mediagen.core.settings import settings


@functools.cache
def _sqs() -> Any:
    import boto3

    return boto3.client("sqs")


def queue_url() -> str:
    return settings().require("dispatch_queue_url")


def enqueue(job_id: str) -> None:
    _sqs().send_message(QueueUrl=queue_url(), MessageBody=DispatchMessage(job_id=job_id).model_dump_json())


def retry_later(receipt_handle: str, delay_seconds: int) -> None:
    """Backoff: the failed message comes back after `delay_seconds` instead of the visibility timeout."""
    _sqs().change_message_visibility(
        QueueUrl=queue_url(), ReceiptHandle=receipt_handle, VisibilityTimeout=min(delay_seconds, 43_200)
    )
