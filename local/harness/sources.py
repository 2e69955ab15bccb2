"""Lambda's event sources, driving any `invoke(event) -> answer` callable (a handler in this process, or a
sandbox process of the local service): the SQS event source mapping and a `rate()` schedule. The local
service runs them in threads; tests and benchmarks call `SqsEventSource.drain()` where the event source
mapping would have run."""

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deploy.base.lambda_events import dynamodb_stream_event, scheduled_event, sqs_event

log = logging.getLogger("local-stack")
Invoke = Callable[[dict[str, Any]], Any]
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
SHARDS_REFRESH_SECONDS = 5.0
# The function's answers a source keeps (tests and benchmarks read the newest; a service that runs for
# an afternoon must not keep every one).
ANSWERS_KEPT = 1_000
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
    answers: deque[Any] = field(default_factory=lambda: deque(maxlen=ANSWERS_KEPT))  # the newest answers
    answered: int = 0

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
        self.answered += 1
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
        start = self.answered
        for _ in range(max_rounds):
            if not self.poll_once():
                break
        return answers_since(self.answers, self.answered - start)

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


def answers_since(answers: deque[Any], count: int) -> list[Any]:
    """The last `count` answers (at most the ones kept)."""
    return list(answers)[-count:] if count > 0 else []


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
    `max_retries` times before it skips the batch (MaximumRetryAttempts).

    A reader that goes quiet is seen: after `stall_check_seconds` without a record, it reads the
    stream once more with a new iterator (from the last record it delivered, or from where it stood at
    its previous check); when that one finds records and its own iterator, read again just after, still
    finds none, its iterator no longer follows the stream (moto's table object replaced under it, an
    iterator lost): it says so in the log, counts it in `stalls`, and goes on from the new iterator, so
    no record is lost. An iterator the stream refuses (expired, trimmed) is replaced the same way."""

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
    stall_check_seconds: float = 5.0
    name: str = "dynamodb-stream"
    answers: deque[Any] = field(default_factory=lambda: deque(maxlen=ANSWERS_KEPT))  # the newest answers
    answered: int = 0
    delivered: int = 0  # records delivered to the function
    stalls: int = 0  # times the reader's iterator was found not to follow the stream
    lost_iterators: int = 0  # iterators the stream refused (expired, trimmed), replaced
    _iterators: dict[str, str | None] = field(default_factory=dict)
    _last_sequence: dict[str, str] = field(default_factory=dict)  # the last record delivered, per shard
    _probes: dict[str, str | None] = field(default_factory=dict)  # LATEST at the previous check, per shard
    _retries: int = 0
    _shards_read_at: float = 0.0
    _records_at: float = 0.0
    _checked_at: float = 0.0
    _started: float = 0.0  # wall clock: records older than the reader are not its (LATEST)

    def __post_init__(self) -> None:
        self.batch_size = max(1, min(int(self.batch_size), 1000))
        self._started = time.time()
        for shard in self._shards():  # where LATEST is: now, before any write the service takes
            self._iterators[shard] = self._iterator(shard, "LATEST")
        self._checked_at = self._records_at = time.monotonic()

    def _shards(self) -> list[str]:
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        return [shard["ShardId"] for shard in description.get("Shards", [])]

    def _iterator(self, shard: str, kind: str, sequence_number: str | None = None) -> str | None:
        arguments = {"StreamArn": self.stream_arn, "ShardId": shard, "ShardIteratorType": kind}
        if sequence_number is not None:
            arguments["SequenceNumber"] = sequence_number
        return self.streams.get_shard_iterator(**arguments).get("ShardIterator")

    def _resume(self, shard: str) -> str | None:
        """A new iterator just after the last record delivered; when none was, from the shard's start
        (LATEST would skip what was written since the reader started: `_deliver` leaves out what is
        older than the reader, as its LATEST did)."""
        last = self._last_sequence.get(shard)
        try:
            if last is not None:
                return self._iterator(shard, "AFTER_SEQUENCE_NUMBER", last)
        except Exception as error:  # that record is gone (trimmed): from the oldest kept
            log.warning(
                "%s: cannot read on after %s (%s); from the oldest record kept", self.name, last, error
            )
        return self._iterator(shard, "TRIM_HORIZON")

    def _read(self, shard: str, iterator: str) -> tuple[list[dict[str, Any]], str | None]:
        answer = self.streams.get_records(ShardIterator=iterator, Limit=self.batch_size)
        return answer.get("Records") or [], answer.get("NextShardIterator")

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
            try:
                records, self._iterators[shard] = self._read(shard, iterator)
            except Exception as error:
                code = getattr(error, "response", {}).get("Error", {}).get("Code")
                if code not in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                    raise
                self.lost_iterators += 1
                log.warning(
                    "%s: the stream refused its iterator (%s); reading on from a new one", self.name, code
                )
                resumed = self._resume(shard)
                if resumed is None:
                    continue
                records, self._iterators[shard] = self._read(shard, resumed)
            if records:
                seen = True
                self._records_at = time.monotonic()
                self._deliver(shard, records)
        if not seen and time.monotonic() - max(self._checked_at, self._records_at) > self.stall_check_seconds:
            self._checked_at = time.monotonic()
            seen = self._check_stalled()
        return seen

    def _check_stalled(self) -> bool:
        """Whether a new iterator finds records the reader's own does not (then they are delivered)."""
        found = False
        for shard, iterator in list(self._iterators.items()):
            if iterator is None:
                continue
            last = self._last_sequence.get(shard)
            try:
                probe = (
                    self._iterator(shard, "AFTER_SEQUENCE_NUMBER", last) if last else self._probes.get(shard)
                )
                self._probes[shard] = self._iterator(shard, "LATEST")
                if probe is None:
                    continue
                records, after = self._read(shard, probe)
            except Exception as error:  # an old probe the stream forgot: the next check has a new one
                log.info("%s: a stall check could not read its probe (%s)", self.name, error)
                continue
            if not records:
                continue
            try:  # after the probe: a reader that follows the stream sees them too
                own, following = self._read(shard, iterator)
            except Exception as error:  # refused: the next poll replaces it
                log.info("%s: a stall check could not read with the reader's iterator (%s)", self.name, error)
                continue
            self._iterators[shard] = following
            if own:
                self._deliver(shard, own)
                found = True
                continue
            self.stalls += 1
            log.error(
                "%s: stalled: its iterator sees nothing while the stream has new records (from sequence "
                "number %s); reading on from a new iterator (stall %d)",
                self.name,
                records[0]["dynamodb"]["SequenceNumber"],
                self.stalls,
            )
            self._iterators[shard] = after
            self._records_at = time.monotonic()
            self._deliver(shard, records)
            found = True
        return found

    def _deliver(self, shard: str, records: list[dict[str, Any]]) -> None:
        ours = [record for record in records if not self._before_start(record)]
        if not ours:  # all older than the reader (read again from the shard's start): passed over
            self._last_sequence[shard] = str(records[-1]["dynamodb"]["SequenceNumber"])
            return
        records = ours
        sequence_numbers = [str(record["dynamodb"]["SequenceNumber"]) for record in records]
        failed: str | None
        try:
            answer = self.invoke(dynamodb_stream_event(records, self.stream_arn))
            self.answers.append(answer)
            self.answered += 1
            failed = self.failed_sequence_number(answer, sequence_numbers)
        except Exception:
            log.exception("%s: the function failed the batch of %d", self.name, len(records))
            failed = sequence_numbers[0]
        if failed is None:
            self._retries = 0
            self.delivered += len(records)
            self._last_sequence[shard] = sequence_numbers[-1]
            return
        done = sequence_numbers[: sequence_numbers.index(failed)]
        if done:
            self.delivered += len(done)
            self._last_sequence[shard] = done[-1]
        if self._retries >= self.max_retries:
            log.error("%s: records from %s skipped after %d retries", self.name, failed, self._retries)
            self._retries = 0
            self._last_sequence[shard] = sequence_numbers[-1]
            return
        self._retries += 1
        log.warning("%s: records from %s are read again (retry %d)", self.name, failed, self._retries)
        self._iterators[shard] = self._iterator(shard, "AT_SEQUENCE_NUMBER", failed)

    def _before_start(self, record: dict[str, Any]) -> bool:
        """Whether a record was surely written before this reader started. The time is approximate
        (DynamoDB Local rounds it down to the minute): two minutes' margin, so that nothing written
        after the start is ever passed over (a record a little older is delivered: at least once)."""
        created = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
        if hasattr(created, "timestamp"):
            created = created.timestamp()
        return isinstance(created, int | float) and created < self._started - 120

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
        start = self.answered
        for _ in range(max_rounds):
            if not self.poll_once():
                break
        return answers_since(self.answers, self.answered - start)

    def state(self) -> dict[str, Any]:
        """What /_local/info says of this reader."""
        return {
            "delivered": self.delivered,
            "stalls": self.stalls,
            "lost_iterators": self.lost_iterators,
            "seconds_since_records": round(time.monotonic() - self._records_at, 1),
        }

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
