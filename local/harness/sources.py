"""Lambda's event sources, driving any `invoke(event) -> answer` callable (a handler in this process, or a
sandbox process of the local service): the SQS event source mapping and a `rate()` schedule. The local
service runs them in threads; tests and benchmarks call `SqsEventSource.drain()` where the event source
mapping would have run."""

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.harness.events import dynamodb_stream_event, scheduled_event, sqs_event

log = logging.getLogger("local-stack")
Invoke = Callable[[dict[str, Any]], Any]
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
SHARDS_REFRESH_SECONDS = 5.0
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


@dataclass
class DynamoDBStreamEventSource:
    """Lambda's DynamoDB Streams event source mapping for one table's stream and one function: reads each
    shard from the latest record on (StartingPosition LATEST), invokes the function with batches of up
    to `batch_size` records in order, and, as Lambda does with ReportBatchItemFailures, reads again from
    the record the function names as failed (or from the batch's first when it raises), at most
    `max_retries` times before it skips the batch (MaximumRetryAttempts)."""

    streams: Any  # a boto3 dynamodbstreams client
    stream_arn: str
    invoke: Invoke
    batch_size: int = 100
    reports_failures: bool = True
    max_retries: int = 5
    # Between reads of idle shards: `interval_seconds` for a while after records came (a job's steps
    # come in bursts), `idle_interval_seconds` after that (Lambda polls a shard 4 times a second).
    interval_seconds: float = 0.05
    idle_interval_seconds: float = 0.25
    name: str = "dynamodb-stream"
    answers: list[Any] = field(default_factory=list)
    _iterators: dict[str, str | None] = field(default_factory=dict)
    _retries: int = 0
    _shards_read_at: float = 0.0
    _records_at: float = 0.0

    def __post_init__(self) -> None:
        self.batch_size = max(1, min(int(self.batch_size), 1000))
        for shard in self._shards():  # where LATEST is: now, before any write the service takes
            self._iterators[shard] = self._iterator(shard, "LATEST")

    def _shards(self) -> list[str]:
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        return [shard["ShardId"] for shard in description.get("Shards", [])]

    def _iterator(self, shard: str, kind: str, sequence_number: str | None = None) -> str | None:
        arguments = {"StreamArn": self.stream_arn, "ShardId": shard, "ShardIteratorType": kind}
        if sequence_number is not None:
            arguments["SequenceNumber"] = sequence_number
        return self.streams.get_shard_iterator(**arguments).get("ShardIterator")

    def poll_once(self) -> bool:
        """One read of each shard and, for a shard with records, one invocation. Returns whether there
        were records."""
        if time.monotonic() - self._shards_read_at > SHARDS_REFRESH_SECONDS:
            self._shards_read_at = time.monotonic()
            for shard in self._shards():
                if shard not in self._iterators:  # a new shard: from its start
                    self._iterators[shard] = self._iterator(shard, "TRIM_HORIZON")
        seen = False
        for shard, iterator in list(self._iterators.items()):
            if iterator is None:
                continue
            answer = self.streams.get_records(ShardIterator=iterator, Limit=self.batch_size)
            records = answer.get("Records") or []
            self._iterators[shard] = answer.get("NextShardIterator")
            if records:
                seen = True
                self._records_at = time.monotonic()
                self._deliver(shard, records)
        return seen

    def _deliver(self, shard: str, records: list[dict[str, Any]]) -> None:
        sequence_numbers = [str(record["dynamodb"]["SequenceNumber"]) for record in records]
        failed: str | None
        try:
            answer = self.invoke(dynamodb_stream_event(records, self.stream_arn))
            self.answers.append(answer)
            failed = self.failed_sequence_number(answer, sequence_numbers)
        except Exception:
            log.exception("%s: the function failed the batch of %d", self.name, len(records))
            failed = sequence_numbers[0]
        if failed is None:
            self._retries = 0
            return
        if self._retries >= self.max_retries:
            log.error("%s: records from %s skipped after %d retries", self.name, failed, self._retries)
            self._retries = 0
            return
        self._retries += 1
        log.warning("%s: records from %s are read again (retry %d)", self.name, failed, self._retries)
        self._iterators[shard] = self._iterator(shard, "AT_SEQUENCE_NUMBER", failed)

    def failed_sequence_number(self, answer: Any, batch: list[str]) -> str | None:
        """The first record to read again, or None: Lambda reads again from the lowest sequence number
        reported (an unknown one fails the whole batch)."""
        if not self.reports_failures or not isinstance(answer, dict):
            return None
        ids = [
            str((item or {}).get("itemIdentifier") or "") for item in answer.get("batchItemFailures") or []
        ]
        if not ids:
            return None
        if not set(ids) <= set(batch):
            log.error("%s: batchItemFailures names unknown records; the whole batch fails", self.name)
            return batch[0]
        return min(ids, key=batch.index)

    def drain(self, max_rounds: int = 100) -> list[Any]:
        """Read until no shard has records (or `max_rounds` reads): the answers of this drain."""
        start = len(self.answers)
        for _ in range(max_rounds):
            if not self.poll_once():
                break
        return self.answers[start:]

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if not self.poll_once():
                    recent = time.monotonic() - self._records_at < 5
                    stop.wait(self.interval_seconds if recent else self.idle_interval_seconds)
            except Exception:
                if not stop.is_set():
                    log.exception("%s: polling failed", self.name)
                    stop.wait(1)


def in_thread(
    source: SqsEventSource | Schedule | DynamoDBStreamEventSource, stop: threading.Event
) -> threading.Thread:
    """A daemon thread that runs `source` until `stop` is set (started)."""
    thread = threading.Thread(target=source.run, args=(stop,), name=source.name, daemon=True)
    thread.start()
    return thread
