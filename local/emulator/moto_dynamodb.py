"""moto's DynamoDB and DynamoDB Streams, made to behave as DynamoDB does where the local stack and the
tests rely on it, for as long as a `make run` lasts. Used by the local stack and the tests.

moto 5.2.5 (pinned in pyproject.toml; tests/integration/test_moto_dynamodb.py checks each point below
against it, so a new moto that changes its internals fails there first):

- Per-item atomicity: its threaded server's UpdateItem first inserts a key-only item, then checks and
  applies, so a concurrent request can see a half-made item and two conditional puts can both pass.
  One lock around the backend's reads and writes gives the per-item atomicity DynamoDB documents, so
  concurrency tests exercise our races, not moto's.
- Transactions: moto backs up every table a transaction names with `copy.deepcopy` before applying it,
  and on a canceled transaction puts the copy in the table's place. The copy is the whole table, its
  items and its stream's records: a transaction costs time and memory in proportion to everything the
  service ever stored (a soak of 500 jobs went from 7 to 23 MB per job), and after the first canceled
  one the table's stream is another object than the one every reader holds an iterator on, so no reader
  sees anything again (live progress died for everyone at a person's 11th generate). Here a
  transaction keeps the table it ran on: it records the items it touches and the length of each
  stream, and a canceled one puts those items back and drops the stream records it wrote, in place.
  A reader never sees a canceled transaction's records: stream reads take the same lock.
- Stream records: moto keeps every record of a table's stream for ever (DynamoDB keeps them 24 hours),
  each with its item's old and new images. Here a stream keeps its newest `STREAM_RECORDS` records;
  an iterator behind them reads from the oldest one kept (where DynamoDB would say TrimmedDataAccess).
- Shard iterators: moto keeps every iterator it ever handed out (a reader polling four times a second
  makes 14,400 an hour, each holding 0.6 kB of random id). Here the newest `SHARD_ITERATORS` are kept;
  an older one is refused as expired (ExpiredIteratorException), as DynamoDB refuses one after 15
  minutes, and the local stream reader asks for a new one (local/harness/sources.py).
"""

import copy
import logging
import threading
from typing import Any

log = logging.getLogger("local-stack")

# A reader polls every 50-250 ms and reads up to 100 records a time: 1,000 records is a minute of a busy
# service's writes, and a few MB at most per stream (a record holds the item's old and new images).
STREAM_RECORDS = 1_000
# Each reader holds one iterator per shard at a time; the local stack has a handful of readers.
SHARD_ITERATORS = 1_000

_LOCK = threading.RLock()
# Batch operations are moto responses that call these one item at a time.
_WRAPPED = ("put_item", "update_item", "delete_item", "get_item", "query", "scan", "describe_table")


def make_moto_behave_as_dynamodb() -> None:
    """Patch moto's DynamoDB and DynamoDB Streams backends (once per process) as the module says."""
    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard, Table
    from moto.dynamodbstreams import models as streams_models

    if getattr(DynamoDBBackend, "_mediagen_patched", False):
        return
    backend = streams_models.DynamoDBStreamsBackend
    transaction = DynamoDBBackend.transact_write_items
    patches: list[tuple[Any, str, Any]] = [
        *((DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name))) for name in _WRAPPED),
        (DynamoDBBackend, "transact_write_items", _transaction_in_place(transaction)),
        # moto's transaction backs up its tables with the `copy` module it imported: that name, in
        # moto's namespace only, now leaves a table as it is (the undo log restores it instead).
        (dynamodb_models, "copy", _CopyKeepingTables(Table)),
        (StreamShard, "add", _bounded_add(StreamShard.add)),
        (StreamShard, "get", _get_from_oldest_kept(StreamShard.get)),
        (backend, "get_shard_iterator", _locked(_remembered(backend.get_shard_iterator))),
        (backend, "get_records", _locked(_expired_refused(backend.get_records))),
        (backend, "describe_stream", _locked(backend.describe_stream)),
    ]
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)
    DynamoDBBackend._mediagen_patched = True  # type: ignore[attr-defined]


def _locked(original: Any) -> Any:
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return original(self, *args, **kwargs)

    locked.__name__ = original.__name__
    return locked


class _CopyKeepingTables:
    """The `copy` module for moto's DynamoDB models: `deepcopy` of a table is the table itself."""

    def __init__(self, table_class: type) -> None:
        self.table_class = table_class

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if isinstance(value, self.table_class):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _key_of(table: Any, operation: str, arguments: dict[str, Any]) -> tuple[Any, Any] | None:
    """The (hash, range) key an operation of a transaction names, as moto's table indexes its items."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    attributes = arguments.get("Item") if operation == "Put" else arguments.get("Key")
    if not isinstance(attributes, dict) or table.hash_key_attr not in attributes:
        return None
    hash_value = DynamoType(attributes[table.hash_key_attr])
    range_value = None
    if table.range_key_attr is not None:
        if table.range_key_attr not in attributes:
            return None
        range_value = DynamoType(attributes[table.range_key_attr])
    return hash_value, range_value


def _put_back(table: Any, key: tuple[Any, Any], item: Any) -> None:
    hash_value, range_value = key
    if range_value is not None:
        if item is None:
            table.items.get(hash_value, {}).pop(range_value, None)
            if hash_value in table.items and not table.items[hash_value]:
                del table.items[hash_value]
        else:
            table.items[hash_value][range_value] = item
    elif item is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = item


def _transaction_in_place(original: Any) -> Any:
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        with _LOCK:
            undo: list[tuple[Any, tuple[Any, Any], Any]] = []
            streams: dict[int, tuple[Any, int]] = {}
            for entry in transact_items if isinstance(transact_items, list) else []:
                if not isinstance(entry, dict) or len(entry) != 1:
                    continue  # moto refuses it before writing anything
                operation, arguments = next(iter(entry.items()))
                table = (
                    self.tables.get((arguments or {}).get("TableName"))
                    if isinstance(arguments, dict)
                    else None
                )
                if table is None:
                    continue
                key = _key_of(table, operation, arguments)
                if key is not None:
                    undo.append((table, key, copy.deepcopy(table.get_item(*key))))
                if table.stream_shard is not None:
                    streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
            # A stream is not trimmed while the transaction runs: its records' positions must hold
            # until it is known whether they stay (trimming the front would shift them under `length`).
            _TRANSACTIONS[0] += 1
            try:
                return original(self, transact_items)
            except BaseException:
                for table, key, item in reversed(undo):
                    _put_back(table, key, item)
                for shard, length in streams.values():
                    del shard.items[length:]  # the canceled writes' records: never read (same lock)
                raise
            finally:
                _TRANSACTIONS[0] -= 1
                for shard, _ in streams.values():
                    _trim(shard)

    return transact_write_items


_TRANSACTIONS = [0]  # transactions running (under _LOCK)
TRIMMED_READS = [0]  # reads that asked for records no longer kept (a reader STREAM_RECORDS behind)


def _trim(shard: Any) -> None:
    extra = len(shard.items) - STREAM_RECORDS
    if extra > 0 and not _TRANSACTIONS[0]:
        # Sequence numbers are the position plus the first one kept: both move together.
        del shard.items[:extra]
        shard.starting_sequence_number += extra


def _bounded_add(original: Any) -> Any:
    def add(self: Any, old: Any, new: Any) -> None:
        original(self, old, new)
        _trim(self)

    return add


def _get_from_oldest_kept(original: Any) -> Any:
    def get(self: Any, start: int, quantity: int) -> Any:
        if int(start) < self.starting_sequence_number:
            # DynamoDB would refuse it (TrimmedDataAccessException) after 24 hours; here the records
            # are gone after STREAM_RECORDS writes: say so, and read on from the oldest kept.
            TRIMMED_READS[0] += 1
            log.warning(
                "moto: a stream reader asked for records no longer kept (%d behind the oldest of the "
                "%d kept): some records were skipped",
                self.starting_sequence_number - int(start),
                STREAM_RECORDS,
            )
        return original(self, max(int(start), self.starting_sequence_number), quantity)

    return get


def _remembered(original: Any) -> Any:
    def get_shard_iterator(self: Any, *args: Any, **kwargs: Any) -> Any:
        iterator = original(self, *args, **kwargs)
        _forget_oldest(self.shard_iterators)
        return iterator

    return get_shard_iterator


def _forget_oldest(iterators: dict[str, Any]) -> None:
    """Dicts keep insertion order: the first keys are the oldest iterators."""
    for arn in list(iterators)[: max(0, len(iterators) - SHARD_ITERATORS)]:
        del iterators[arn]


def _expired_refused(original: Any) -> Any:
    def get_records(self: Any, iterator_arn: str, limit: int) -> Any:
        if iterator_arn not in self.shard_iterators:
            from moto.core.exceptions import JsonRESTError

            raise JsonRESTError("ExpiredIteratorException", "Iterator expired or unknown; get a new one.")
        answer = original(self, iterator_arn, limit)
        _forget_oldest(self.shard_iterators)
        return answer

    return get_records
