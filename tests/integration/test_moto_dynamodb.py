"""moto's DynamoDB as the local stack runs it (local/emulator/moto_dynamodb.py), held to what DynamoDB
does where the service relies on it, for as long as a `make run` lasts: a canceled transaction changes
nothing and leaves every stream reader reading; a transaction costs the items it names, not the table;
a stream and its iterators stay bounded; a stream reader whose iterator stops following the stream is
seen, counted, and loses nothing (local/harness/sources.py)."""

import copy
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.emulator import moto_dynamodb
from local.emulator.moto_dynamodb import make_moto_behave_as_dynamodb
from local.harness.sources import DynamoDBStreamEventSource

TABLE = "MotoBehaviourTable"
ENDPOINT: dict[str, str] = {}


@pytest.fixture
def table(moto_server: str) -> Iterator[Any]:
    """A table with a stream on moto's server in this process (moto's in-process mock does not route
    DynamoDB Streams), patched as the local stack patches it (the `moto_server` fixture)."""
    make_moto_behave_as_dynamodb()
    ENDPOINT["url"] = moto_server
    client = boto3.client("dynamodb", endpoint_url=moto_server)
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    yield client
    client.delete_table(TableName=TABLE)


def streams_client() -> Any:
    return boto3.client("dynamodbstreams", endpoint_url=ENDPOINT["url"])


def backends() -> tuple[Any, Any]:
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    region = boto3.session.Session().region_name or "us-east-1"
    return dynamodb_backends["123456789012"][region], dynamodbstreams_backends["123456789012"][region]


def backend_table() -> Any:
    return backends()[0].tables[TABLE]


def put(client: Any, key: str, value: int = 0) -> None:
    client.put_item(TableName=TABLE, Item={"pk": {"S": key}, "value": {"N": str(value)}})


def items(client: Any) -> dict[str, int]:
    found = client.scan(TableName=TABLE)["Items"]
    return {item["pk"]["S"]: int(item["value"]["N"]) for item in found}


def canceled_transaction(client: Any) -> None:
    """Three writes, the last refused by its condition: DynamoDB applies none of them."""
    with pytest.raises(ClientError) as refused:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "new"}, "value": {"N": "1"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "a"}},
                        "UpdateExpression": "SET #v = :v",
                        "ExpressionAttributeNames": {"#v": "value"},
                        "ExpressionAttributeValues": {":v": {"N": "99"}},
                    }
                },
                {
                    "Delete": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "b"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"


def reader(client: Any, delivered: list[str], **settings: Any) -> DynamoDBStreamEventSource:
    arn = client.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        delivered.extend(record["dynamodb"]["Keys"]["pk"]["S"] for record in event["Records"])
        return {"batchItemFailures": []}

    return DynamoDBStreamEventSource(streams_client(), arn, invoke, **settings)


def test_a_canceled_transaction_changes_nothing_and_the_stream_reader_reads_on(table: Any) -> None:
    put(table, "a", 1)
    put(table, "b", 2)
    delivered: list[str] = []
    source = reader(table, delivered)
    the_table = backend_table()

    canceled_transaction(table)

    assert items(table) == {"a": 1, "b": 2}
    assert backend_table() is the_table  # moto put a copy in its place: readers followed the old one
    source.drain()
    assert delivered == []  # none of the canceled writes reached the stream
    put(table, "c", 3)
    source.drain()
    assert delivered == ["c"]
    assert source.stalls == 0


def test_a_canceled_transaction_on_a_full_stream_leaves_the_stream_as_it_was(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stream that holds as many records as it keeps (a service past its first few hundred jobs)
    put(table, "a", 1)
    put(table, "b", 2)
    monkeypatch.setattr(moto_dynamodb, "STREAM_RECORDS", len(backend_table().stream_shard.items))
    before = [record.record["dynamodb"]["SequenceNumber"] for record in backend_table().stream_shard.items]
    delivered: list[str] = []
    source = reader(table, delivered)

    # When a transaction is canceled (its writes trimmed the front as they were made, before the fix)
    canceled_transaction(table)

    # Then the stream is as it was: no record of the canceled writes, none of the old ones lost
    after = [record.record["dynamodb"]["SequenceNumber"] for record in backend_table().stream_shard.items]
    assert after == before
    source.drain()
    assert delivered == []
    put(table, "c", 3)
    source.drain()
    assert delivered == ["c"]


def test_a_transaction_copies_the_items_it_names_not_the_table(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(50):
        put(table, f"item-{index}", index)
    put(table, "b")  # the canceled transaction's condition fails on it
    copied: list[Any] = []
    deepcopy = copy.deepcopy

    def counting(value: Any, memo: Any = None) -> Any:
        copied.append(type(value).__name__)
        return deepcopy(value, memo)

    monkeypatch.setattr(copy, "deepcopy", counting)
    table.transact_write_items(
        TransactItems=[{"Put": {"TableName": TABLE, "Item": {"pk": {"S": "item-1"}, "value": {"N": "7"}}}}]
    )
    canceled_transaction(table)

    assert "Table" not in copied
    assert copied.count("Item") <= 4  # the touched items' previous versions (the put's and the update's)
    assert items(table)["item-1"] == 7


def test_the_stream_keeps_its_newest_records_and_a_reader_behind_reads_from_the_oldest(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(moto_dynamodb, "STREAM_RECORDS", 20)
    streams = streams_client()
    arn = table.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    oldest = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    for index in range(50):
        put(table, f"item-{index}")

    assert len(backend_table().stream_shard.items) == 20
    records = streams.get_records(ShardIterator=oldest["ShardIterator"], Limit=100)["Records"]
    assert [record["dynamodb"]["Keys"]["pk"]["S"] for record in records] == [
        f"item-{i}" for i in range(30, 50)
    ]
    latest = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")
    put(table, "after")
    after = streams.get_records(ShardIterator=latest["ShardIterator"], Limit=100)["Records"]
    assert [record["dynamodb"]["Keys"]["pk"]["S"] for record in after] == ["after"]


def test_old_iterators_are_forgotten_and_refused_as_expired(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(moto_dynamodb, "SHARD_ITERATORS", 10)
    streams = streams_client()
    arn = table.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    first = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")[
        "ShardIterator"
    ]
    for _ in range(30):
        streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")

    assert len(backends()[1].shard_iterators) == 10
    with pytest.raises(ClientError) as refused:
        streams.get_records(ShardIterator=first)
    assert refused.value.response["Error"]["Code"] == "ExpiredIteratorException"


def test_a_reader_whose_iterator_was_forgotten_reads_on_from_its_last_record(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered: list[str] = []
    source = reader(table, delivered)
    put(table, "a")
    source.drain()
    monkeypatch.setattr(moto_dynamodb, "SHARD_ITERATORS", 1)
    streams = streams_client()
    arn = table.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST"
    )  # the reader's is gone
    put(table, "b")
    put(table, "c")

    source.drain()  # refused once, then from just after "a"

    assert delivered == ["a", "b", "c"]
    assert source.lost_iterators == 1


def test_a_reader_that_delivered_nothing_yet_loses_nothing_when_its_iterator_is_refused(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered: list[str] = []
    source = reader(table, delivered)
    put(table, "a")
    put(table, "b")
    monkeypatch.setattr(moto_dynamodb, "SHARD_ITERATORS", 1)
    streams = streams_client()
    arn = table.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST"
    )  # the reader's is gone

    source.drain()  # refused once, then from the shard's start, less what is older than the reader

    assert delivered == ["a", "b"]
    assert source.lost_iterators == 1


def test_a_reader_left_on_a_replaced_stream_is_seen_counted_and_loses_nothing(
    table: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """moto's own rollback (a copy of the table put in its place) is what stalled every reader: done
    here by hand, the reader's check finds it within `stall_check_seconds`."""
    delivered: list[str] = []
    source = reader(table, delivered, stall_check_seconds=0.0)
    put(table, "a")
    source.drain()
    backend = backends()[0]
    original = moto_dynamodb.copy.deepcopy
    backend.tables[TABLE] = original(backend.tables[TABLE])  # the reader's iterator: the old object's
    put(table, "b")
    put(table, "c")

    with caplog.at_level(logging.ERROR, logger="local-stack"):
        source.drain()

    assert delivered == ["a", "b", "c"]
    assert source.stalls == 1
    assert "stalled" in caplog.text
    put(table, "d")
    source.drain()
    assert delivered == ["a", "b", "c", "d"]
    assert source.stalls == 1
