"""Reads template.yaml (CloudFormation short tags included) so tests and the local stack build their
tables from the one definition that AWS gets: they cannot drift."""

from dataclasses import dataclass
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
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
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


# --- Functions and their events -------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    """An AWS::Serverless::Function with Globals.Function applied (intrinsics left unresolved)."""

    logical_id: str
    code_dir: str  # the folder under functions/, which is also the handler's package
    handler: str  # "app.lambda_handler"
    environment: dict[str, Any]
    events: dict[str, dict[str, Any]]
    timeout: int
    memory: int

    @property
    def module(self) -> str:
        """The handler's module as the tests and the local stack import it (PYTHONPATH has functions/)."""
        return f"{self.code_dir}.{self.handler.rsplit('.', 1)[0]}"

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]

    def events_of_type(self, *types: str) -> list[dict[str, Any]]:
        return [event.get("Properties") or {} for event in self.events.values() if event["Type"] in types]


@dataclass(frozen=True)
class HttpRoute:
    """One route of the HTTP API: `Method` and `Path` of an HttpApi event, and the function behind it."""

    method: str
    path: str
    function: str

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


def functions() -> list[FunctionSpec]:
    template = load_template()
    defaults = template.get("Globals", {}).get("Function", {})
    specs = []
    for logical_id, resource in resources_of_type("AWS::Serverless::Function").items():
        properties = {**defaults, **resource["Properties"]}
        variables = {
            **(defaults.get("Environment") or {}).get("Variables", {}),
            **(resource["Properties"].get("Environment") or {}).get("Variables", {}),
        }
        specs.append(
            FunctionSpec(
                logical_id=logical_id,
                code_dir=Path(properties["CodeUri"]).name,
                handler=properties["Handler"],
                environment=variables,
                events=properties.get("Events") or {},
                timeout=int(properties.get("Timeout", 3)),
                memory=int(properties.get("MemorySize", 128)),
            )
        )
    return specs


def http_routes() -> list[HttpRoute]:
    """Every HttpApi event of every function, in template order."""
    return [
        HttpRoute(method=str(event["Method"]).upper(), path=str(event["Path"]), function=spec.logical_id)
        for spec in functions()
        for event in spec.events_of_type("HttpApi")
    ]
