"""What Lambda's event sources do for the local service: an SQS event source mapping per SQS event
(poll, invoke with a real SQS event, delete what succeeded), and a timer per Schedule event."""

import hashlib
import logging
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from infra.local.intrinsics import ACCOUNT_ID, REGION

log = logging.getLogger("local-stack")
Invoke = Callable[[dict[str, Any]], Any]
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class SqsPoller(threading.Thread):
    """Lambda's SQS event source mapping: long-polls the queue, invokes the function with up to
    `batch_size` records, deletes the messages that succeeded. A function that raises fails the whole
    batch; with ReportBatchItemFailures, the `batchItemFailures` it returns stay on the queue. Either
    way they come back after the queue's visibility timeout, and go to its dead-letter queue after
    `maxReceiveCount` receives, as SQS does."""

    def __init__(
        self,
        name: str,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        batch_size: int,
        reports_failures: bool,
        invoke: Invoke,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.sqs, self.queue_url, self.queue_arn = sqs, queue_url, queue_arn
        self.batch_size = max(1, min(int(batch_size), 10))  # one ReceiveMessage gives at most 10
        self.reports_failures, self.invoke, self.stop = reports_failures, invoke, stop

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.poll_once()
            except Exception:
                if not self.stop.is_set():
                    log.exception("%s: polling failed", self.name)
                    self.stop.wait(1)

    def poll_once(self) -> None:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=1,  # short, so that a stop is seen within a second
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return
        event = {"Records": [sqs_record(message, self.queue_arn) for message in messages]}
        try:
            answer = self.invoke(event)
        except Exception:
            log.exception("%s: the function failed the batch of %d", self.name, len(messages))
            return
        failed = self.failed_ids(answer, {m["MessageId"] for m in messages})
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        if failed:
            log.warning(
                "%s: %d of %d messages failed; they will be retried", self.name, len(failed), len(messages)
            )

    def failed_ids(self, answer: Any, batch: set[str]) -> set[str]:
        if not self.reports_failures or not isinstance(answer, dict):
            return set()
        ids = {
            str((item or {}).get("itemIdentifier") or "") for item in answer.get("batchItemFailures") or []
        }
        if not ids <= batch:  # Lambda treats an unknown or empty identifier as a failed batch
            log.error("%s: batchItemFailures names unknown messages; the whole batch fails", self.name)
            return batch
        return ids


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of the SQS event Lambda sends."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", ""),
            "SenderId": attributes.get("SenderId", ACCOUNT_ID),
            "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", ""),
            **{k: v for k, v in attributes.items() if k in ("MessageGroupId", "MessageDeduplicationId")},
        },
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType"),
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def rate_seconds(expression: str) -> int | None:
    """Seconds between runs of `rate(N unit)`; None for what the local service does not run (cron)."""
    match = _RATE.match(expression.strip())
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")] if match else None


class ScheduleTimer(threading.Thread):
    """An EventBridge schedule: invokes the function with a Scheduled Event every `interval` seconds,
    the first time one interval after the start, as a new rule does."""

    def __init__(self, name: str, interval: float, invoke: Invoke, stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.interval, self.invoke, self.stop = interval, invoke, stop

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.invoke(scheduled_event(self.name))
            except Exception:
                log.exception("%s: the scheduled run failed", self.name)


def scheduled_event(rule: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{rule}"],
        "detail": {},
    }
