"""Writing the planned items: one conditional PutItem per item, create-if-absent.

- Safe to run twice: an item that exists is never overwritten, whoever wrote it. DynamoDB returns the
  existing item with the failed condition (no extra read), so the report tells an item an earlier run
  wrote (identical) from one the service changed since (a notification read, a job a late webhook
  moved on): the second is kept as found and listed.
- Safe to stop: every item has a deterministic key and value (migration.rules), so a rerun after a
  crash computes the same items, finds those already written, and writes only the rest. No progress
  file is needed, and none can go stale.
- A job's items go in order (job, then alias, then notification), so an alias never points at a job
  that is not there yet.

Writes run on a bounded thread pool (botocore clients are thread-safe); at most `2 x workers` jobs are
queued, so memory stays flat however fast the database is read.
"""

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import botocore.exceptions

from mediagen.data.models import Generation, Notification
from migration.report import Report
from migration.rules import JobPlan
from migration.target import dynamodb_client


class WriteFailed(Exception):
    """A write failed for a reason a retry of the whole command may cure (throttling after botocore's
    retries, a network fault): the run stops; what was written stays, and a rerun finishes."""


class Writer:
    def __init__(self, report: Report, *, workers: int, dry_run: bool, on_written: Any = None) -> None:
        self.report = report
        self.dry_run = dry_run
        self.on_written = on_written or (lambda n: None)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="migrate-write")
        self._slots = threading.BoundedSemaphore(workers * 2)
        self._failure: BaseException | None = None
        self._clients: dict[type, Any] = {}
        if not dry_run:
            for model in (Generation, Notification):
                client = dynamodb_client(model)
                # the models share one client (data/models.shared_connection): count its requests once
                if all(client is not counted for counted in self._clients.values()):
                    client.meta.events.register("before-send.dynamodb.*", self._count_request)
                self._clients[model] = client

    def submit(self, plan: JobPlan) -> None:
        if self._failure is not None:
            raise WriteFailed(str(self._failure)) from self._failure
        if self.dry_run:
            for item in plan.items():
                item.serialize()  # what would be sent is valid for the model
            self.report.count("writes.would_write", len(plan.items()))
            return
        self._slots.acquire()
        future = self._pool.submit(self._write, plan)
        future.add_done_callback(self._done)

    def close(self) -> None:
        """Wait for every queued write; raise WriteFailed if one failed."""
        self._pool.shutdown(wait=True)
        if self._failure is not None:
            raise WriteFailed(str(self._failure)) from self._failure

    def _done(self, future: Future[None]) -> None:
        self._slots.release()
        error = future.exception()
        if error is not None and self._failure is None:
            self._failure = error

    def _count_request(self, event_name: str, **_: Any) -> None:
        self.report.request(event_name.rsplit(".", 1)[-1])

    def _write(self, plan: JobPlan) -> None:
        for item in plan.items():
            if self._failure is not None:
                return
            outcome = self.put_if_absent(item)
            self.report.count(f"writes.{outcome}")
            if outcome == "created":
                self.on_written(1)

    def put_if_absent(self, item: Generation | Notification) -> str:
        """'created', 'already_present' (identical) or 'kept_as_found' (changed since; listed)."""
        model = type(item)
        serialized = item.serialize()
        hash_key = model._hash_key_attribute().attr_name
        try:
            self._clients[model].put_item(
                TableName=model.Meta.table_name,
                Item=serialized,
                ConditionExpression="attribute_not_exists(#key)",
                ExpressionAttributeNames={"#key": hash_key},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ValidationException":
                # This item cannot be stored (too large, say): skip it, report it, go on.
                self.report.count(f"skipped.{model.__name__}")
                self.report.entry(
                    "skipped",
                    table=model.Meta.table_name,
                    id=_key(item),
                    reason=f"refused by DynamoDB: {exc.response.get('Error', {}).get('Message')}",
                )
                return "refused"
            if code != "ConditionalCheckFailedException":
                raise WriteFailed(f"{code}: {exc.response.get('Error', {}).get('Message')}") from exc
            existing: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            # Not null-checked: what is found may be a deleted job's notification tombstone (its key,
            # `deleted_at` and TTL only), kept as found like any item the service changed.
            if (
                existing is not None
                and model.from_raw_data(existing).serialize(null_check=False) == serialized
            ):
                return "already_present"
            if existing is None:
                return "already_present"  # a store that does not return the item: cannot tell, keep it
            self.report.entry(
                "kept_as_found",
                table=model.Meta.table_name,
                key=_key(item),
                reason="present and different (changed by the service since, or another run's data): kept",
            )
            return "kept_as_found"
        except botocore.exceptions.BotoCoreError as exc:
            raise WriteFailed(str(exc)) from exc
        return "created"


def _key(item: Generation | Notification) -> str:
    if isinstance(item, Notification):
        return f"{item.user_id}/{item.notification_id}"
    return str(item.job_id)
