"""local.services.dynamodb_local: the pinned DynamoDB Local installs, starts, behaves as DynamoDB where moto
and dynalite do not (an item returned with a failed condition, transactions), and stops without a trace."""

import socket
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.services import dynamodb_local


def _port_open(endpoint: str) -> bool:
    port = int(endpoint.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_dynamodb_local_runs_conditional_writes_and_transactions_then_stops() -> None:
    try:
        dynamodb_local.tools()
    except dynamodb_local.DynamoDBLocalError as exc:
        pytest.fail(str(exc))  # CI must not lose the cross-checks: a missing Java or npm is a failure

    # Given DynamoDB Local with one table
    with dynamodb_local.running() as endpoint:
        client = boto3.client("dynamodb", endpoint_url=endpoint)
        client.create_table(
            TableName="cross_check",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="cross_check", Item={"k": {"S": "a"}, "v": {"N": "1"}})

        # When a conditional write fails, Then the item that failed it comes back (ALL_OLD)
        with pytest.raises(ClientError) as failed:
            client.put_item(
                TableName="cross_check",
                Item={"k": {"S": "a"}, "v": {"N": "2"}},
                ConditionExpression="attribute_not_exists(k)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
        answer: dict[str, Any] = dict(failed.value.response)
        assert answer["Item"] == {"k": {"S": "a"}, "v": {"N": "1"}}

        # And a transaction applies both writes
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "cross_check", "Item": {"k": {"S": "b"}}}},
                {
                    "Update": {
                        "TableName": "cross_check",
                        "Key": {"k": {"S": "a"}},
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"N": "3"}},
                    }
                },
            ]
        )
        assert client.get_item(TableName="cross_check", Key={"k": {"S": "a"}})["Item"]["v"] == {"N": "3"}
        assert "Item" in client.get_item(TableName="cross_check", Key={"k": {"S": "b"}})

    # Then nothing listens on its port any more
    assert not _port_open(endpoint)
