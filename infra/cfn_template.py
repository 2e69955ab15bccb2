"""Reads template.yaml (CloudFormation short tags included) so tests and the local stack build their
tables from the one definition that AWS gets: they cannot drift."""

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
TABLE_PROPERTIES = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "StreamSpecification",
)


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps `!Ref X` as {"Ref": X} and `!GetAtt A.B` as {"Fn::GetAtt": [A, B]}."""


def _tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@cache
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return document


def resources_of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == resource_type
    }


def table_definitions() -> dict[str, dict[str, Any]]:
    """CreateTable arguments (less the name) of each DynamoDB table, by logical id."""
    return {
        name: {key: value for key, value in resource["Properties"].items() if key in TABLE_PROPERTIES}
        for name, resource in resources_of_type("AWS::DynamoDB::Table").items()
    }


# The environment variable through which each table's name reaches the code (see Globals).
TABLE_ENV = {"GenerationsTable": "GENERATIONS_TABLE", "NotificationsTable": "NOTIFICATIONS_TABLE"}


def create_tables(client: Any, names: dict[str, str]) -> None:
    """Create every table of the template with `client`, named by `names` (logical id -> name)."""
    for logical_id, definition in table_definitions().items():
        client.create_table(TableName=names[logical_id], **definition)
    for logical_id in table_definitions():
        client.get_waiter("table_exists").wait(TableName=names[logical_id])


def create_queues(client: Any, prefix: str = "") -> dict[str, str]:
    """Create every SQS queue of the template (dead-letter redrive included); logical id -> URL."""
    queues = resources_of_type("AWS::SQS::Queue")
    urls: dict[str, str] = {}
    # Dead-letter queues first: a redrive policy names its target's ARN.
    for logical_id in sorted(queues, key=lambda name: "RedrivePolicy" in queues[name].get("Properties", {})):
        properties = queues[logical_id].get("Properties", {})
        attributes = {
            key: str(properties[key])
            for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")
            if key in properties
        }
        redrive = properties.get("RedrivePolicy")
        if redrive:
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            arn = client.get_queue_attributes(QueueUrl=urls[target], AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": redrive["maxReceiveCount"]}
            )
        urls[logical_id] = client.create_queue(QueueName=f"{prefix}{logical_id}", Attributes=attributes)[
            "QueueUrl"
        ]
    return urls
