"""Reads template.yaml (CloudFormation short tags included) so tests and the local stack build their
tables from the one definition that AWS gets: they cannot drift."""

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
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


def nested_templates(path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    """The templates of the nested stacks (AWS::Serverless::Application with a local Location), by
    logical id, nested ones of those included."""
    found: dict[str, dict[str, Any]] = {}
    for name, resource in load_template(path)["Resources"].items():
        location = (resource.get("Properties") or {}).get("Location")
        if resource["Type"] == "AWS::Serverless::Application" and isinstance(location, str):
            child = (path.parent / location).resolve()
            if child.is_file():
                found[name] = load_template(child)
                found.update(nested_templates(child))
    return found


def resources_of_type(resource_type: str, *, nested: bool = False) -> dict[str, dict[str, Any]]:
    """The template's resources of one type; `nested`: those of its nested stacks too."""
    templates = [load_template(), *(nested_templates().values() if nested else ())]
    return {
        name: resource
        for template in templates
        for name, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def table_definitions() -> dict[str, dict[str, Any]]:
    """CreateTable arguments (less the name) of each DynamoDB table, by logical id. CloudFormation's
    StreamSpecification has the view type only; CreateTable's also says that the stream is enabled."""
    definitions = {
        name: {key: value for key, value in resource["Properties"].items() if key in TABLE_PROPERTIES}
        for name, resource in resources_of_type("AWS::DynamoDB::Table").items()
    }
    for definition in definitions.values():
        if "StreamSpecification" in definition:
            definition["StreamSpecification"] = {"StreamEnabled": True, **definition["StreamSpecification"]}
    return definitions


# The environment variable through which each table's name reaches the code (see Globals).
TABLE_ENV = {
    "GenerationsTable": "GENERATIONS_TABLE",
    "NotificationsTable": "NOTIFICATIONS_TABLE",
    "JobsInFlightTable": "JOBS_IN_FLIGHT_TABLE",
    "ErasedPeopleTable": "ERASED_PEOPLE_TABLE",
}


def create_tables(client: Any, names: dict[str, str], keep_existing: bool = False) -> None:
    """Create the template's tables named in `names` (logical id -> name) with `client` (the
    migration's targets name only the tables it fills: JobsInFlight starts empty); `keep_existing`:
    leave a table that exists already as it is (a store that kept its data)."""
    existing = set(client.list_tables()["TableNames"]) if keep_existing else set()
    wanted = {
        logical_id: definition
        for logical_id, definition in table_definitions().items()
        if logical_id in names
    }
    for logical_id, definition in wanted.items():
        if names[logical_id] not in existing:
            client.create_table(TableName=names[logical_id], **definition)
    for logical_id in wanted:
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
