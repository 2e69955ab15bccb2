"""deploy/monitoring.yaml: the monitoring of the application (alert topic, alarms, dashboard), a nested
stack of its own (`Monitoring`, an AWS::Serverless::Application in template.yaml), generated from the
short tables of its alarms (deploy/monitoring_alarms.py) and its dashboard (deploy/monitoring_dashboard.py)
and the functions and tables of template.yaml. `make monitoring` writes it; a test checks that it is
current and that template.yaml passes it every parameter it declares.

Why generated: CloudFormation has no loop that `sam build` accepts (SAM CLI 1.170.0 fails on
`Fn::ForEach`), and one alarm per function and per table is the same 30 lines each time. Here each
alarm is one row, a new function or table gets its alarms by `make monitoring`, and every alarm's
text names its runbook entry (docs/runbook.md; tests/integration/test_operations.py checks both).
"""

from pathlib import Path
from typing import Any

import yaml

from deploy.base.cfn_functions import functions
from deploy.base.cfn_template import table_definitions
from deploy.monitoring_alarms import (
    DEAD_LETTER_QUEUE,
    ERASURE_DEAD_LETTER_QUEUE,
    FILE_REMOVAL_DEAD_LETTER_QUEUE,
    LIVE_DEAD_LETTER_QUEUE,
    alarms,
    ref,
)
from deploy.monitoring_dashboard import dashboard

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "deploy" / "monitoring.yaml"


def parameters(function_ids: list[str], table_ids: list[str]) -> dict[str, Any]:
    """What the application passes in: its settings, and the names of what is watched."""
    names = {
        "MetricsNamespace": "CloudWatch namespace of the functions' metrics.",
        "AlertEmail": "Optional e-mail address subscribed to the alert topic (empty for none).",
        "SignatureRejectionThreshold": "Webhook signature rejections in 5 minutes above which to alert.",
        "HttpApi": "The HTTP API's id.",
        f"{DEAD_LETTER_QUEUE}Name": "The dispatch dead-letter queue's name.",
        f"{FILE_REMOVAL_DEAD_LETTER_QUEUE}Name": "The file removal dead-letter queue's name.",
        f"{ERASURE_DEAD_LETTER_QUEUE}Name": "The erasure dead-letter queue's name.",
        f"{LIVE_DEAD_LETTER_QUEUE}Name": "The live progress publisher's dead-letter queue's name.",
    }
    declared: dict[str, Any] = {
        name: {"Type": "Number" if name.endswith("Threshold") else "String", "Description": text}
        for name, text in names.items()
    }
    declared["AlertEmail"]["Default"] = ""
    for function in function_ids:
        declared[function] = {"Type": "String", "Description": f"{function}'s name."}
    for table in table_ids:
        declared[table] = {"Type": "String", "Description": f"{table}'s name."}
    return declared


def build_monitoring() -> dict[str, Any]:
    function_ids = [spec.logical_id for spec in functions()]
    table_ids = list(table_definitions())
    resources: dict[str, Any] = {
        "AlertTopic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "mediagen alerts"}},
        "AlertEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlertEmail",
            "Properties": {
                "TopicArn": ref("AlertTopic"),
                "Protocol": "email",
                "Endpoint": ref("AlertEmail"),
            },
        },
        **alarms(function_ids, table_ids),
        "OperationsDashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {"DashboardBody": {"Fn::Sub": dashboard(function_ids, table_ids)}},
        },
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "mediagen monitoring: alert topic, alarms (docs/runbook.md), dashboard. Generated "
        "by deploy/monitoring.py (make monitoring): do not edit.",
        "Parameters": parameters(function_ids, table_ids),
        "Conditions": {"HasAlertEmail": {"Fn::Not": [{"Fn::Equals": [ref("AlertEmail"), ""]}]}},
        "Resources": resources,
        "Outputs": {
            "AlertTopicArn": {"Description": "The SNS topic of every alarm", "Value": ref("AlertTopic")}
        },
    }


class _Dumper(yaml.SafeDumper):
    """CloudFormation's short tags (`!Ref X`, `!Sub |`), block literals for multi-line strings, and no
    YAML anchors or aliases (CloudFormation rejects them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def choose_scalar_style(self) -> str:
        event = self.event
        if isinstance(event, yaml.ScalarEvent) and (event.tag or "").startswith("!") and not event.style:
            analysis = self.analysis or self.analyze_scalar(event.value)
            if analysis.allow_flow_plain and analysis.allow_block_plain and not analysis.empty:
                return ""  # `!Ref AlertTopic`, not `!Ref 'AlertTopic'`
        style: str = super().choose_scalar_style()
        return style


def _represent_dict(dumper: _Dumper, data: dict[str, Any]) -> yaml.Node:
    if len(data) == 1:
        [(key, value)] = data.items()
        if key == "Ref":
            return dumper.represent_scalar("!Ref", value)
        if key.startswith("Fn::") and key != "Fn::GetAtt":
            tag = f"!{key.removeprefix('Fn::')}"
            if isinstance(value, str):
                return dumper.represent_scalar(tag, value, style="|" if "\n" in value else None)
            return dumper.represent_sequence(tag, value, flow_style=True)
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items())


def _represent_str(dumper: _Dumper, data: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(str, _represent_str)


def render() -> str:
    header = "# Generated by deploy/monitoring.py (`make monitoring`); a test checks that it is current.\n"
    body = yaml.dump(build_monitoring(), Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)
    return header + body


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
