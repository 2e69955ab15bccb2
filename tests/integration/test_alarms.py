"""Every alarm of the stack watches a metric that exists (issue 24): an alarm on a metric name,
namespace or dimension set that nothing emits can never fire.

- Our own metrics (the namespace the functions get as POWERTOOLS_METRICS_NAMESPACE): the integration
  and e2e suites drive the code paths, and every EMF record Powertools prints is recorded
  (local/harness/aws_calls.py); after them (marker `after_suites`), each alarm must find a record with
  its namespace, metric name and exact dimension set (names and values).
- AWS's metrics (Lambda, SQS, DynamoDB, API Gateway): the metric is one the service publishes with
  exactly those dimensions, and each dimension names a resource of the template (a function, a queue,
  a table, the HTTP API and its stage).

Alarms are read from template.yaml and its nested stacks (deploy/monitoring.yaml), whatever they hold;
a parameter of a nested stack is followed to what template.yaml passes it.
"""

import os
from dataclasses import dataclass
from typing import Any

import pytest

from deploy.base.cfn_template import load_template, nested_templates
from local.harness import aws_calls
from tests.integration.test_permissions import whole_suites_ran

# What AWS publishes, per namespace: metric names, and the dimension set the alarms may use.
AWS_METRICS: dict[str, tuple[frozenset[str], dict[str, str]]] = {
    # namespace: (metric names, {dimension: the resource type it names})
    "AWS/Lambda": (
        frozenset({"Errors", "Throttles", "Invocations", "Duration", "ConcurrentExecutions", "IteratorAge"}),
        {"FunctionName": "AWS::Serverless::Function"},
    ),
    "AWS/SQS": (
        frozenset(
            {
                "ApproximateNumberOfMessagesVisible",
                "ApproximateAgeOfOldestMessage",
                "NumberOfMessagesSent",
                "NumberOfMessagesReceived",
            }
        ),
        {"QueueName": "AWS::SQS::Queue"},
    ),
    "AWS/DynamoDB": (
        frozenset({"ReadThrottleEvents", "WriteThrottleEvents", "SystemErrors", "UserErrors"}),
        {"TableName": "AWS::DynamoDB::Table"},
    ),
    # HTTP APIs publish by ApiId and Stage (REST APIs by ApiName: not ours).
    "AWS/ApiGateway": (
        frozenset({"4xx", "5xx", "Count", "Latency", "IntegrationLatency", "DataProcessed"}),
        {"ApiId": "AWS::Serverless::HttpApi", "Stage": "stage"},
    ),
}
SERVICE_NAMESPACE_VARIABLE = "POWERTOOLS_METRICS_NAMESPACE"


@dataclass(frozen=True)
class Watched:
    """One metric an alarm watches, its values as template.yaml expresses them (intrinsics unresolved)."""

    alarm: str
    namespace: Any
    metric: str
    dimensions: tuple[tuple[str, Any], ...]

    def __str__(self) -> str:
        return f"{self.alarm}: {self.namespace} {self.metric} {dict(self.dimensions)}"


def _in_parent(value: Any, passed: dict[str, Any]) -> Any:
    """A nested stack's `!Ref Parameter` as template.yaml expresses what it passes."""
    if isinstance(value, dict) and list(value) == ["Ref"] and value["Ref"] in passed:
        return passed[value["Ref"]]
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        text = value["Fn::Sub"]
        for name, given in passed.items():
            if f"${{{name}}}" in text and isinstance(given, str):
                text = text.replace(f"${{{name}}}", given)
        return text if "${" not in text else value
    return value


def watched_metrics() -> list[Watched]:
    template = load_template()
    stacks: list[tuple[dict[str, Any], dict[str, Any]]] = [(template, {})]
    for name, nested in nested_templates().items():
        stacks.append((nested, template["Resources"][name]["Properties"].get("Parameters", {})))
    watched = []
    for document, passed in stacks:
        for name, resource in document["Resources"].items():
            if resource["Type"] != "AWS::CloudWatch::Alarm":
                continue
            properties = resource["Properties"]
            metrics = [
                entry["MetricStat"]["Metric"]
                for entry in properties.get("Metrics", [])
                if "MetricStat" in entry
            ]
            if "MetricName" in properties:
                metrics.append(properties)
            assert metrics, f"{name} watches no metric"
            for metric in metrics:
                dimensions = tuple(
                    (str(item["Name"]), _in_parent(item["Value"], passed))
                    for item in metric.get("Dimensions", [])
                )
                watched.append(
                    Watched(
                        name, _in_parent(metric["Namespace"], passed), str(metric["MetricName"]), dimensions
                    )
                )
    return watched


def service_namespace() -> Any:
    """The namespace every function emits to, as template.yaml sets it (one for all, checked)."""
    from deploy.base.cfn_functions import functions

    values = {repr(spec.environment.get(SERVICE_NAMESPACE_VARIABLE)) for spec in functions()}
    assert len(values) == 1, f"the functions emit to different namespaces: {values}"
    return next(spec.environment.get(SERVICE_NAMESPACE_VARIABLE) for spec in functions())


def service_dimension_values() -> dict[str, Any]:
    """Dimensions Powertools adds from the environment: `service` is POWERTOOLS_SERVICE_NAME."""
    from deploy.base.cfn_functions import functions

    names = {str(spec.environment.get("POWERTOOLS_SERVICE_NAME")) for spec in functions()}
    assert len(names) == 1, f"the functions name different services: {names}"
    return {"service": names.pop()}


Emitted = set[tuple[str, str, tuple[tuple[str, str], ...]]]


def emitted_problems(watched: Watched, emitted: Emitted) -> str | None:
    """Why no recorded EMF record matches one of our alarms (None: one does)."""
    wanted = tuple(sorted((name, str(value)) for name, value in watched.dimensions))
    namespace = os.environ[SERVICE_NAMESPACE_VARIABLE]  # what the functions got in this session
    same_name = [entry for entry in emitted if entry[0] == namespace and entry[1] == watched.metric]
    if any(dimensions == wanted for _, _, dimensions in same_name):
        return None
    if same_name:
        seen = sorted({str(dict(dimensions)) for _, _, dimensions in same_name})
        return f"{watched}: emitted only with the dimensions {', '.join(seen)}"
    return f"{watched}: no test made the code emit {watched.metric} in {namespace}"


def template_problems(watched: Watched) -> str | None:
    """Our alarm against what the template makes the functions emit: the dimensions Powertools adds
    from their environment (`service`: POWERTOOLS_SERVICE_NAME)."""
    for name, value in watched.dimensions:
        expected = service_dimension_values().get(name)
        if expected is not None and str(value) != expected:
            return f"{watched}: the functions' {name} is {expected!r} (template.yaml), not {value!r}"
    return None


def aws_problems(watched: Watched, template: dict[str, Any]) -> str | None:
    """Why an alarm on an AWS metric watches nothing that exists (None: it does)."""
    if watched.namespace not in AWS_METRICS:
        return f"{watched}: namespace {watched.namespace} is not known here (add it to AWS_METRICS)"
    names, dimension_types = AWS_METRICS[str(watched.namespace)]
    if watched.metric not in names:
        return f"{watched}: {watched.namespace} publishes no {watched.metric}"
    if {name for name, _ in watched.dimensions} != set(dimension_types):
        return f"{watched}: {watched.namespace} publishes by {sorted(dimension_types)}"
    resources = template["Resources"]
    for name, value in watched.dimensions:
        wanted = dimension_types[name]
        if wanted == "stage":
            api = dict(watched.dimensions)["ApiId"]
            stage = resources.get(api.get("Ref", ""), {}).get("Properties", {}).get("StageName", "$default")
            if value != stage:
                return f"{watched}: the HTTP API's stage is {stage!r}, not {value!r}"
            continue
        target = None
        if isinstance(value, dict) and "Ref" in value:
            target = value["Ref"]
        elif isinstance(value, dict) and "Fn::GetAtt" in value:
            target, attribute = value["Fn::GetAtt"]
            if wanted == "AWS::SQS::Queue" and attribute != "QueueName":
                return f"{watched}: QueueName is the queue's QueueName, not its {attribute}"
        if target not in resources or resources[target]["Type"] != wanted:
            return f"{watched}: {name} must name a {wanted} of template.yaml, not {value!r}"
    return None


@pytest.mark.after_suites
def test_every_alarm_watches_a_metric_that_exists(request: pytest.FixtureRequest) -> None:
    watched = watched_metrics()
    template = load_template()
    ours = [metric for metric in watched if metric.namespace == service_namespace()]
    problems = [
        problem for metric in watched if metric not in ours if (problem := aws_problems(metric, template))
    ]
    problems += [problem for metric in ours if (problem := template_problems(metric))]
    if whole_suites_ran(request.config, request.session.items):
        emitted = aws_calls.metrics_recorded(os.environ[aws_calls.VARIABLE])
        problems += [problem for metric in ours if (problem := emitted_problems(metric, emitted))]
    elif ours:
        assert problems == [], "alarms that can never fire:\n" + "\n".join(problems)
        pytest.skip(
            f"{len(ours)} alarms watch the service's own metrics, emitted by code that the whole integration "
            "and e2e suites drive: run them with this file (make test)"
        )
    assert problems == [], "alarms that can never fire:\n" + "\n".join(problems)


# --- the check itself --------------------------------------------------------------------------------


def test_a_missing_or_extra_dimension_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVICE_NAMESPACE_VARIABLE, "MediagenTest")
    alarm = Watched("StuckJobsAlarm", {"Ref": "MetricsNamespace"}, "JobTimedOut", (("service", "mediagen"),))
    emitted: Emitted = {("MediagenTest", "JobTimedOut", (("service", "mediagen"),))}
    assert emitted_problems(alarm, emitted) is None
    with_function: Emitted = {
        ("MediagenTest", "JobTimedOut", (("function_name", "f"), ("service", "mediagen")))
    }
    assert "emitted only with the dimensions" in str(emitted_problems(alarm, with_function))
    other: Emitted = {("Other", "JobTimedOut", ())}
    assert "no test made the code emit" in str(emitted_problems(alarm, other))
    renamed = Watched("StuckJobsAlarm", {"Ref": "MetricsNamespace"}, "JobTimedOut", (("service", "mg"),))
    assert "not 'mg'" in str(template_problems(renamed))
    assert template_problems(alarm) is None


@pytest.mark.usefixtures("aws")
def test_the_code_path_emits_the_alarms_record_and_a_changed_dimension_loses_it(
    lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Driven here for one alarm (the whole suites drive them all): the sweeper fails a stuck job, and
    the EMF record it prints is the one StuckJobsAlarm watches; emitted with one more dimension, the
    alarm would never fire, and the check says so."""
    from mediagen.core import observability
    from sweeper.app import lambda_handler as sweeper_handler
    from tests.support import seed_job

    [alarm] = [metric for metric in watched_metrics() if metric.alarm == "StuckJobsAlarm"]
    recorded: Emitted = set()
    provider = observability.metrics.provider
    serialize = provider.serialize_metric_set

    def capture(*args: Any, **kwargs: Any) -> Any:
        document = serialize(*args, **kwargs)
        recorded.update(aws_calls.emf_metrics(dict(document)))
        return document

    monkeypatch.setattr(provider, "serialize_metric_set", capture)
    seed_job("job_stuck_alarm")
    sweeper_handler({}, lambda_context)
    assert emitted_problems(alarm, recorded) is None, recorded

    recorded.clear()
    seed_job("job_stuck_alarm_2")
    observability.metrics.set_default_dimensions(environment="dev")  # one dimension more on every metric
    try:
        sweeper_handler({}, lambda_context)
    finally:
        observability.metrics.clear_default_dimensions()
    assert "emitted only with the dimensions" in str(emitted_problems(alarm, recorded))


def test_an_aws_alarm_must_name_a_resource_of_the_template() -> None:
    template = load_template()
    good = Watched("A", "AWS/DynamoDB", "ReadThrottleEvents", (("TableName", {"Ref": "GenerationsTable"}),))
    assert aws_problems(good, template) is None
    assert aws_problems(Watched("A", "AWS/DynamoDB", "ReadThrottleEvents", (("TableName", "x"),)), template)
    wrong_type = Watched("A", "AWS/Lambda", "Errors", (("FunctionName", {"Ref": "GenerationsTable"}),))
    assert "AWS::Serverless::Function" in str(aws_problems(wrong_type, template))
    queue_arn = Watched(
        "A",
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        (("QueueName", {"Fn::GetAtt": ["DispatchQueue", "Arn"]}),),
    )
    assert "not its Arn" in str(aws_problems(queue_arn, template))
    assert "publishes no" in str(aws_problems(Watched("A", "AWS/Lambda", "Error", good.dimensions), template))
