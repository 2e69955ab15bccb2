"""Routes are declared once, in template.yaml (the HttpApi events of each function): each function's
code serves exactly its routes there, and the API description describes exactly those."""

import importlib

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from deploy.base.cfn_functions import FunctionSpec, functions, http_routes
from deploy.openapi_operations import OPERATIONS

# The functions behind named routes, each with a Powertools resolver; the `$default` route's function
# (functions/unknown_route) has none: it answers whatever no route matches (tests/unit/test_unknown_route.py).
HTTP_FUNCTIONS = [
    spec
    for spec in functions()
    if any(route.function == spec.logical_id and not route.is_default for route in http_routes())
]


def served_routes(spec: FunctionSpec) -> set[str]:
    """What the function's code registers on its resolver, as template route keys."""
    app = APIGatewayHttpResolver()
    app.include_router(importlib.import_module(spec.module).router)
    return {
        f"{route.method} {route.openapi_path}"
        for route in [*app._static_routes, *app._dynamic_routes]  # Powertools keeps them here
    }


@pytest.mark.parametrize("spec", HTTP_FUNCTIONS, ids=lambda spec: spec.logical_id)
def test_each_function_serves_exactly_its_template_routes(spec: FunctionSpec) -> None:
    # API Gateway's `$default` route takes whatever no route matches: the resolver's not-found answers it.
    declared = {
        route.route_key
        for route in http_routes()
        if route.function == spec.logical_id and not route.is_default
    }
    assert served_routes(spec) == declared, f"{spec.module} and template.yaml disagree"


def test_the_api_description_describes_exactly_the_template_routes() -> None:
    # `$default` is no operation: it answers the paths and methods the description does not have.
    assert set(OPERATIONS) == {route.route_key for route in http_routes() if not route.is_default}


def test_no_route_is_declared_twice() -> None:
    keys = [route.route_key for route in http_routes()]
    assert len(keys) == len(set(keys))
