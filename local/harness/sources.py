"""Lambda's event sources, driving any `invoke(event) -> answer` callable (a handler in this process, or a
sandbox process of the local service): the SQS event source mapping and a `rate()` schedule. The local
service runs them in threads; tests and benchmarks call `SqsEventSource.drain()` where the event source
mapping would have run."""

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.harness.events import scheduled_event, sqs_event

log = logging.getLogger("local-stack")
Invoke = Callable[[dict[str, Any]], Any]
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass
class SqsEventSource:
    """Lambda's SQS event source mapping for one queue and one function: receives up to `batch_size`
    messages, invokes the function with the SQS event, deletes the messages that succeeded. A function
    that raises fails the whole batch; with ReportBatchItemFailures, the `batchItemFailures` it returns
    stay on the queue. Either way they come back after the queue's visibility timeout (or the one the
    function set), and go to its dead-letter queue after `maxReceiveCount` receives, as SQS does."""

    sqs: Any  # a boto3 SQS client
    queue_url: str
    invoke: Invoke
    queue_arn: str = ""  # looked up when not given
    batch_size: int = 10
    reports_failures: bool = True
    wait_seconds: int = 0  # long polling: the local service waits 1 s, so that a stop is seen at once
    name: str = "sqs"
    answers: list[Any] = field(default_factory=list)  # every answer of the function, in order

    def __post_init__(self) -> None:
        self.batch_size = max(1, min(int(self.batch_size), 10))  # one ReceiveMessage gives at most 10
        if not self.queue_arn:
            self.queue_arn = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]

    def poll_once(self) -> bool:
        """One receive and, if it got messages, one invocation. Returns whether there were messages."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return False
        try:
            answer = self.invoke(sqs_event(messages, self.queue_arn))
        except Exception:
            log.exception("%s: the function failed the batch of %d", self.name, len(messages))
            return True
        self.answers.append(answer)
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
        return True

    def drain(self, max_rounds: int = 100) -> list[Any]:
        """Poll until the queue shows no message (or `max_rounds` invocations); the answers of this
        drain. What a test or a benchmark runs where the event source mapping would have."""
        start = len(self.answers)
        for _ in range(max_rounds):
            if not self.poll_once():
                break
        return self.answers[start:]

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set (the local service runs this in a thread)."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:
                if not stop.is_set():
                    log.exception("%s: polling failed", self.name)
                    stop.wait(1)

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


def rate_seconds(expression: str) -> int | None:
    """Seconds between runs of `rate(N unit)`; None for what is not run here (cron)."""
    match = _RATE.match(expression.strip())
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")] if match else None


@dataclass
class Schedule:
    """An EventBridge `rate()` schedule: invokes the function with a Scheduled Event every `interval`
    seconds, the first time one interval after the start, as a new rule does."""

    name: str
    interval: float
    invoke: Invoke

    def fire(self) -> Any:
        return self.invoke(scheduled_event(self.name))

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                self.fire()
            except Exception:
                log.exception("%s: the scheduled run failed", self.name)


def in_thread(source: SqsEventSource | Schedule, stop: threading.Event) -> threading.Thread:
    """A daemon thread that runs `source` until `stop` is set (started)."""
    thread = threading.Thread(target=source.run, args=(stop,), name=source.name, daemon=True)
    thread.start()
    return thread
