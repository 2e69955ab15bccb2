"""local.services.dynamodb_local: the pinned DynamoDB Local installs, starts, behaves as DynamoDB where moto
and dynalite do not (an item returned with a failed condition, transactions), and stops without a trace."""

import http.client
import json
import socket
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from local.services import dynamodb_local


def _port_open(endpoint: str) -> bool:
    port = int(endpoint.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on `port`, from the kernel's tables (Linux)."""
    addresses = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):  # no tcp6 where IPv6 is off
        for line in (table.read_text() if table.exists() else "").splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # /proc prints each 32-bit word of the address in host byte order
                swap = sys.byteorder == "little"
                words = b"".join(raw[i : i + 4][:: -1 if swap else 1] for i in range(0, len(raw), 4))
                family = socket.AF_INET if len(words) == 4 else socket.AF_INET6
                addresses.add(socket.inet_ntop(family, words))
    return addresses


def _list_tables_request(endpoint: str, headers: dict[str, str]) -> requests.Response:
    """DynamoDB's ListTables as a page could send it (DynamoDB Local accepts any key's signature)."""
    return requests.post(
        endpoint,
        data="{}",
        headers={
            "content-type": "application/x-amz-json-1.0",
            "x-amz-target": "DynamoDB_20120810.ListTables",
            "x-amz-date": "20261205T000000Z",
            "authorization": "AWS4-HMAC-SHA256 Credential=any/20261205/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=00",
            **headers,
        },
        timeout=10,
    )


@pytest.mark.skipif(sys.platform != "linux", reason="reads the kernel's socket tables in /proc")
def test_dynamodb_local_is_on_loopback_only_and_refuses_other_hosts_and_browsers() -> None:
    try:
        dynamodb_local.tools()
    except dynamodb_local.DynamoDBLocalError as exc:
        pytest.fail(str(exc))

    # Given DynamoDB Local as `make run DYNAMODB=local` and the tests start it
    with dynamodb_local.running() as endpoint:
        port = int(endpoint.rsplit(":", 1)[1])

        # Then it listens on the loopback address only (bare DynamoDB Local: every interface, `*:<port>`)
        assert listening_addresses(port) in ({"127.0.0.1"}, {"::ffff:127.0.0.1"})

        # And its own Host is served, as boto3 sends it
        assert _list_tables_request(endpoint, {}).status_code == 200
        assert _list_tables_request(endpoint, {"host": f"localhost:{port}"}).status_code == 200

        # When a rebound page sends its own name, or any page sends its Origin (bare: 200 with the tables)
        for headers, status, code in (
            ({"host": f"evil.example.com:{port}"}, 421, "misdirected_request"),
            ({"host": "127.0.0.1"}, 421, "misdirected_request"),
            ({"origin": "https://evil.example.com"}, 403, "origin_not_allowed"),
            ({"origin": "null"}, 403, "origin_not_allowed"),
        ):
            refused = _list_tables_request(endpoint, headers)

            # Then it is refused in JSON before DynamoDB Local reads it, and nothing is readable by the page
            assert (refused.status_code, refused.json()["code"]) == (status, code), headers
            assert refused.headers["content-type"] == "application/json"
            assert not any(name.lower().startswith("access-control-") for name in refused.headers)


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


def _raw_exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """`data` on a new connection: the answer's status, headers (lower-case names) and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()


def test_what_jetty_refuses_itself_is_answered_in_json_like_every_other_port() -> None:
    try:
        dynamodb_local.tools()
    except dynamodb_local.DynamoDBLocalError as exc:
        pytest.fail(str(exc))

    with dynamodb_local.running() as endpoint:
        port = int(endpoint.rsplit(":", 1)[1])
        own = f"127.0.0.1:{port}".encode()
        signed = (
            b"Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n"
            b"Authorization: AWS4-HMAC-SHA256 Credential=any/20261205/us-east-1/dynamodb/aws4_request, "
            b"SignedHeaders=host, Signature=00\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        )
        # Given requests Jetty refuses before any handler sees them (bare: its HTML 400 page)
        for name, request, status, code in (
            (
                "a Host with @",
                b"POST / HTTP/1.1\r\nHost: " + own + b"@evil.example\r\n",
                421,
                "misdirected_request",
            ),
            (
                "a Host with userinfo",
                b"POST / HTTP/1.1\r\nHost: user@" + own + b"\r\n",
                421,
                "misdirected_request",
            ),
            (
                "an absolute-form target naming another host",
                b"POST http://evil.example/ HTTP/1.1\r\nHost: " + own + b"\r\n",
                421,
                "misdirected_request",
            ),
            (
                "two Host headers",
                b"POST / HTTP/1.1\r\nHost: " + own + b"\r\nHost: evil.example\r\n",
                421,
                "misdirected_request",
            ),
            (
                "two equal Host headers",
                b"POST / HTTP/1.1\r\nHost: " + own + b"\r\nHost: " + own + b"\r\n",
                421,
                "misdirected_request",
            ),
            (
                "a header without a colon",
                b"POST / HTTP/1.1\r\nHost: " + own + b"\r\nnonsense\r\n",
                400,
                "bad_request",
            ),
            (
                "an oversize URI",
                b"POST /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: " + own + b"\r\n",
                431,
                "request_header_fields_too_large",
            ),
            (
                "an oversize header",
                b"POST / HTTP/1.1\r\nHost: " + own + b"\r\nX-Big: " + b"b" * 20_000 + b"\r\n",
                431,
                "request_header_fields_too_large",
            ),
        ):
            # When one is sent, Then it is refused in JSON, never HTML, with no header a page could use
            answer_status, headers, body = _raw_exchange(port, request + signed)
            assert (answer_status, headers.get("content-type")) == (status, "application/json"), (
                name,
                body[:200],
            )
            document = json.loads(body)
            assert document["code"] == code and isinstance(document["message"], str), (name, document)
            assert not any(header.startswith("access-control-") for header in headers), (name, headers)
            assert b"TableNames" not in body
        # And bytes that are not HTTP too
        answer_status, headers, body = _raw_exchange(port, b"HELLO\r\n\r\n")
        assert (answer_status, headers.get("content-type")) == (400, "application/json")
        assert json.loads(body)["code"] == "bad_request"
        # While an absolute-form target naming this port is served, as a proxy-aware client sends it
        served = _raw_exchange(port, b"POST http://" + own + b"/ HTTP/1.1\r\nHost: " + own + b"\r\n" + signed)
        assert served[0] == 200 and json.loads(served[2]) == {"TableNames": []}
