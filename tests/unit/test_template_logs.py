"""Logs that forget (issue 34): every function of template.yaml writes to a log group the stack declares,
kept LogRetentionDays days (30 by default); the API's access logs are kept as long unless
AccessLogRetentionDays sets them apart. No log group of the stack keeps its lines forever."""

from typing import Any

import pytest

from deploy.base.cfn_template import load_template, resources_of_type
from deploy.permissions import resolver

LOG_GROUP = "AWS::Logs::LogGroup"


def _retention(log_group: str, **parameters: Any) -> int:
    template = load_template()
    resolve = resolver(template, parameters)
    return int(resolve(template["Resources"][log_group]["Properties"]["RetentionInDays"]))


def test_every_function_writes_to_a_log_group_of_its_own_with_the_retention() -> None:
    template = load_template()
    resources = template["Resources"]
    assert "LoggingConfig" not in template["Globals"]["Function"], "one log group per function, not shared"
    functions = resources_of_type("AWS::Serverless::Function")
    assert len(functions) >= 15
    groups: dict[str, str] = {}
    for name, function in functions.items():
        reference = (function["Properties"].get("LoggingConfig") or {}).get("LogGroup")
        assert isinstance(reference, dict) and set(reference) == {"Ref"}, (
            f"{name} names no log group of the stack (LoggingConfig: LogGroup: !Ref ...): Lambda would "
            "create /aws/lambda/<function> itself, kept forever"
        )
        group = reference["Ref"]
        assert resources.get(group, {}).get("Type") == LOG_GROUP, f"{name}'s LogGroup {group} is no log group"
        assert group not in groups, f"{name} and {groups.get(group)} share the log group {group}"
        groups[group] = name
        properties = resources[group]["Properties"]
        assert properties["RetentionInDays"] == {"Ref": "LogRetentionDays"}, f"{group}: not LogRetentionDays"
        # Named after the function, so that an operator finds it (the console follows LoggingConfig).
        assert properties["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}/{name}"}
        assert _retention(group) == 30


def test_no_log_group_of_the_stack_keeps_its_lines_forever() -> None:
    groups = resources_of_type(LOG_GROUP, nested=True)
    assert groups
    for name, group in groups.items():
        assert "RetentionInDays" in group["Properties"], f"{name} has no retention: kept forever"


def test_the_retention_parameters_default_to_30_days_and_the_access_log_follows() -> None:
    parameters = load_template()["Parameters"]
    assert parameters["LogRetentionDays"]["Default"] == 30
    # 0: "the same as LogRetentionDays"; every other value one CloudWatch Logs accepts.
    assert parameters["AccessLogRetentionDays"]["Default"] == 0
    common = parameters["LogRetentionDays"]["AllowedValues"]
    assert parameters["AccessLogRetentionDays"]["AllowedValues"] == [0, *common]


@pytest.mark.parametrize(
    ("parameters", "days"),
    [
        ({}, 30),
        ({"LogRetentionDays": 90}, 90),
        ({"LogRetentionDays": 90, "AccessLogRetentionDays": 0}, 90),
        ({"LogRetentionDays": 90, "AccessLogRetentionDays": 7}, 7),
        ({"AccessLogRetentionDays": 365}, 365),
    ],
)
def test_the_access_log_keeps_the_common_retention_unless_set_apart(
    parameters: dict[str, int], days: int
) -> None:
    assert _retention("ApiAccessLogs", **parameters) == days
