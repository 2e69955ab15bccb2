"""The functions of template.yaml, with Globals.Function applied, and the HTTP API routes their events
declare: what the local service serves, and what the events/ and openapi.json generators describe."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.base.cfn_template import load_template, resources_of_type

# An HttpApi event without Path and Method is the API's `$default` route: whatever no route matches.
DEFAULT_ROUTE = "$default"


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
    path: str  # DEFAULT_ROUTE for the catch-all route
    function: str

    @property
    def is_default(self) -> bool:
        return self.path == DEFAULT_ROUTE

    @property
    def route_key(self) -> str:
        return DEFAULT_ROUTE if self.is_default else f"{self.method} {self.path}"


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


def http_route(event: dict[str, Any], function: str) -> HttpRoute:
    """The route of one HttpApi event's Properties."""
    path = str(event.get("Path") or DEFAULT_ROUTE)
    method = "ANY" if path == DEFAULT_ROUTE else str(event.get("Method") or "ANY").upper()
    return HttpRoute(method=method, path=path, function=function)


def http_routes() -> list[HttpRoute]:
    """Every HttpApi event of every function, in template order (`$default` included)."""
    return [
        http_route(event, spec.logical_id) for spec in functions() for event in spec.events_of_type("HttpApi")
    ]


def channel_namespaces() -> dict[str, str | None]:
    """Each AppSync Events channel namespace of the template: its name, and the function its
    onSubscribe handler invokes directly (through a Lambda data source), or None when it has none."""
    data_sources = {
        logical_id: resource.get("Properties") or {}
        for logical_id, resource in resources_of_type("AWS::AppSync::DataSource").items()
    }
    namespaces: dict[str, str | None] = {}
    for resource in resources_of_type("AWS::AppSync::ChannelNamespace").values():
        properties = resource.get("Properties") or {}
        handler = ((properties.get("HandlerConfigs") or {}).get("OnSubscribe") or {}).get("Integration") or {}
        function = None
        source = handler.get("DataSourceName")
        if isinstance(source, dict) and "Fn::GetAtt" in source:
            arn = (data_sources.get(source["Fn::GetAtt"][0], {}).get("LambdaConfig") or {}).get(
                "LambdaFunctionArn"
            )
            if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                function = arn["Fn::GetAtt"][0]
        namespaces[str(properties["Name"])] = function
    return namespaces
