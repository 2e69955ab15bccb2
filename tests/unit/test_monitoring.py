"""The monitoring stack (deploy/monitoring.yaml) is current, receives every parameter it declares from
template.yaml, and watches every function and table of the application."""

import json
import re

from deploy.base.cfn_functions import functions
from deploy.base.cfn_template import load_template, nested_templates, resources_of_type, table_definitions
from deploy.monitoring import OUTPUT, build_monitoring, render
from deploy.monitoring_dashboard import SERVICE_WIDGETS
from mediagen.core.observability import MetricName

DECLARED_METRICS = {value for name, value in vars(MetricName).items() if name.isupper()}


def test_monitoring_yaml_is_current() -> None:
    assert OUTPUT.read_text(encoding="utf-8") == render(), "deploy/monitoring.yaml is stale: make monitoring"


def test_the_application_nests_it_and_passes_exactly_its_parameters() -> None:
    [(name, application)] = resources_of_type("AWS::Serverless::Application").items()
    assert application["Properties"]["Location"] == "deploy/monitoring.yaml"
    assert nested_templates()[name] == load_template(OUTPUT)
    declared = build_monitoring()["Parameters"]
    passed = application["Properties"]["Parameters"]
    required = {key for key, parameter in declared.items() if "Default" not in parameter}
    assert set(passed) <= set(declared), (
        f"not declared by the monitoring stack: {set(passed) - set(declared)}"
    )
    assert required <= set(passed), f"template.yaml does not pass: {required - set(passed)}"
    resources = load_template()["Resources"]
    for key, value in passed.items():
        target = value.get("Ref") or value.get("Fn::GetAtt", [None])[0]
        assert target in resources or target in load_template()["Parameters"], f"{key} -> {value}"


def test_every_function_and_table_has_its_alarm_and_dashboard_line() -> None:
    template = build_monitoring()
    alarms = json.dumps(
        {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    )
    dashboard = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    json.loads(re.sub(r"\$\{[^}]+\}", "x", dashboard))  # valid JSON once substituted
    watched = [spec.logical_id for spec in functions()] + list(table_definitions())
    for logical_id in watched:
        assert json.dumps({"Ref": logical_id}) in alarms, f"no alarm watches {logical_id}"
        assert f"${{{logical_id}}}" in dashboard, f"the dashboard does not show {logical_id}"


def test_the_dashboard_shows_only_metrics_the_code_declares() -> None:
    shown = {metric for _, metrics in SERVICE_WIDGETS for metric in metrics}
    assert shown <= DECLARED_METRICS, shown - DECLARED_METRICS


def test_the_application_template_holds_no_monitoring() -> None:
    for resource in load_template()["Resources"].values():
        assert not resource["Type"].startswith(("AWS::CloudWatch::", "AWS::SNS::")), resource["Type"]
