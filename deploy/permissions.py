"""The permissions the stack will have, proven against the calls its code makes (issue 24), offline.

template.yaml is expanded by AWS's own SAM transform (aws-sam-translator, in its own virtualenv:
`make sam-translator`; deploy/checks/sam_transform.py) into the roles `sam deploy` creates. Each
function's role (inline policies, AWS::IAM::Policy resources attached to it, managed policies by ARN)
becomes a list of grants: (effect, actions, resource ARNs). Every resource is named after its logical
id in one fake account and region (`resource_arn`, deploy/base/arns.py), on both sides: the policies'
intrinsics are resolved to those names, and the recorder of the calls (local/harness/aws_calls.py)
names the resource of each call the same way, through the environment variable that carried its
physical name (the template's `GENERATIONS_TABLE: !Ref GenerationsTable`). So "allowed" means: this
action on this template resource, as IAM matches them (wildcards, explicit Deny wins).

Not modelled (none used by the template; a statement using one fails the check rather than being
guessed): NotAction, NotResource, Condition, permission boundaries. Resource policies (the media
bucket's TLS-only Deny) do not concern calls made over TLS by the functions.
"""

import fnmatch
import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.base.arns import resource_attribute, resource_ref
from deploy.base.cfn_template import TEMPLATE, load_template
from deploy.base.intrinsics import Resolver
from deploy.base.lambda_events import REGION

ROOT = Path(__file__).resolve().parent.parent
TRANSLATOR_VENV = ROOT / ".sam-translator-venv"
# What a parameter without a default is given for the expansion (any value its pattern accepts).
SAMPLE_PARAMETERS = {
    "AuthIssuer": "https://clerk.example.com",
    "AuthJwksUrl": "https://clerk.example.com/.well-known/jwks.json",
    "AuthAuthorizedParties": "https://app.example.com",
    "GeneratorUrl": "https://generator.example.com/jobs",
}

# AWS managed policies SAM attaches, by ARN: what each grants and why the code never calls it (it is
# Lambda's own use of the role). Their documents as AWS publishes them (IAM console, "Policy versions").
MANAGED_POLICIES: dict[str, tuple[tuple[str, ...], str]] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": (
        ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
        "Lambda writes the function's log lines (stdout) to CloudWatch Logs with it",
    ),
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": (
        (
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
            "xray:GetSamplingStatisticSummaries",
        ),
        "Tracing: Active: Lambda's own X-Ray segments (the code has no X-Ray SDK)",
    ),
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole": (
        (
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        ),
        "the SQS event source mapping (Lambda's poller) receives and deletes the messages with it",
    ),
    "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole": (
        (
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        ),
        "the DynamoDB Streams event source mapping (Lambda's poller) reads the table's stream with it",
    ),
}


class PermissionModelError(Exception):
    """The template uses an IAM construct this check does not model: extend it rather than guess."""


class _Refs(Mapping[str, Any]):
    """`Ref X` for the expanded template: parameters (defaults, samples), then resources by type."""

    def __init__(self, template: dict[str, Any], parameters: Mapping[str, Any]) -> None:
        self.table: dict[str, Any] = {
            name: parameters.get(name, declared.get("Default", ""))
            for name, declared in template.get("Parameters", {}).items()
        }
        for logical_id, resource in template["Resources"].items():
            self.table[logical_id] = resource_ref(resource["Type"], logical_id)

    def __getitem__(self, key: str) -> Any:
        return self.table[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)


class _Attributes(Mapping[str, Any]):
    def __init__(self, template: dict[str, Any]) -> None:
        self.types = {name: resource["Type"] for name, resource in template["Resources"].items()}

    def __getitem__(self, key: str) -> Any:
        logical_id, _, attribute = key.partition(".")
        if logical_id not in self.types:
            raise KeyError(key)
        return resource_attribute(self.types[logical_id], logical_id, attribute)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.partition(".")[0] in self.types


def resolver(template: dict[str, Any], parameters: Mapping[str, Any] | None = None) -> Resolver:
    refs = _Refs(template, {**SAMPLE_PARAMETERS, **(parameters or {})})
    return Resolver(refs, _Attributes(template), template.get("Conditions", {}))


# --- the transform -------------------------------------------------------------------------------------


def translator_python() -> Path:
    """The SAM translator's virtualenv, made on first use (`make sam-translator`, from pip's cache)."""
    python = TRANSLATOR_VENV / "bin" / "python"
    if not (TRANSLATOR_VENV / ".installed").exists():
        subprocess.run(
            ["make", "--no-print-directory", "-s", "sam-translator"],  # noqa: S607 - make from PATH
            cwd=ROOT,
            check=True,
        )
    return python


@functools.cache
def expanded_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml as `sam deploy` gives it to CloudFormation (SAM resources expanded)."""
    request = json.dumps({"template": load_template(path), "parameters": SAMPLE_PARAMETERS})
    done = subprocess.run(  # noqa: S603 - our own script, in our own virtualenv
        [str(translator_python()), str(ROOT / "deploy" / "checks" / "sam_transform.py")],
        input=request,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION},
        timeout=120,
    )
    if done.returncode != 0:
        raise PermissionModelError(f"the SAM transform failed:\n{done.stderr[-3000:]}")
    expanded: dict[str, Any] = json.loads(done.stdout)
    return expanded


# --- grants --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    effect: str  # Allow or Deny
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    source: str  # the policy it comes from: an inline policy's name, or a managed policy's ARN
    managed_reason: str = ""  # a managed policy: why the code never uses it

    def allows(self, action: str, resource: str) -> bool:
        return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in self.actions) and any(
            _resource_matches(pattern, resource) for pattern in self.resources
        )


def _resource_matches(pattern: str, resource: str) -> bool:
    """IAM's matching: `*` any run of characters (`/` included), `?` one; case-sensitive."""
    return fnmatch.fnmatchcase(resource, pattern.replace("[", "[[]"))


@dataclass
class Role:
    function: str  # the function's logical id
    grants: list[Grant] = field(default_factory=list)

    def allows(self, action: str, resource: str) -> bool:
        matching = [grant for grant in self.grants if grant.allows(action, resource)]
        return bool(matching) and all(grant.effect == "Allow" for grant in matching)


def _as_tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in (value if isinstance(value, list) else [value]))


def _grants(document: dict[str, Any], source: str, resolve: Resolver) -> list[Grant]:
    grants = []
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        resolved = resolve(statement)
        unsupported = {"NotAction", "NotResource", "Condition", "NotPrincipal"} & set(resolved)
        if unsupported:
            raise PermissionModelError(f"{source}: {', '.join(sorted(unsupported))} is not modelled")
        grants.append(
            Grant(resolved["Effect"], _as_tuple(resolved["Action"]), _as_tuple(resolved["Resource"]), source)
        )
    return grants


def roles(template: dict[str, Any] | None = None) -> dict[str, Role]:
    """Each Lambda function's role, by the function's logical id, from the expanded template."""
    template = template or expanded_template()
    resolve = resolver(template)
    resources = template["Resources"]
    found: dict[str, Role] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        role_ref = resource["Properties"]["Role"]
        if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
            raise PermissionModelError(f"{logical_id}: its Role is not a role of the template ({role_ref})")
        role_id = role_ref["Fn::GetAtt"][0]
        role = Role(logical_id)
        properties = resources[role_id]["Properties"]
        for policy in properties.get("Policies") or []:
            role.grants += _grants(policy["PolicyDocument"], policy["PolicyName"], resolve)
        for arn in resolve(properties.get("ManagedPolicyArns") or []):
            if arn not in MANAGED_POLICIES:
                raise PermissionModelError(
                    f"{logical_id}: managed policy {arn} is not known to deploy/permissions.py "
                    "(add its actions and why the code does or does not use it)"
                )
            actions, reason = MANAGED_POLICIES[arn]
            role.grants.append(Grant("Allow", actions, ("*",), arn, reason))
        for name, other in resources.items():  # AWS::IAM::Policy / ManagedPolicy attached to the role
            if other["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and {"Ref": role_id} in (
                other["Properties"].get("Roles") or []
            ):
                role.grants += _grants(other["Properties"]["PolicyDocument"], name, resolve)
        found[logical_id] = role
    return found


# --- the check -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One kind of call a function made: an IAM action on a resource (as local/harness/aws_calls.py
    records it), and the API operation it came from."""

    function: str  # logical id
    action: str
    resource: str
    operation: str

    def __str__(self) -> str:
        return f"{self.function}: {self.operation} needs {self.action} on {self.resource}"


def denied(calls: list[Call], function_roles: Mapping[str, Role]) -> list[str]:
    """Every recorded call the function's role would refuse (AccessDenied at its first request)."""
    problems = []
    for call in sorted(set(calls), key=str):
        role = function_roles.get(call.function)
        if role is None:
            problems.append(f"{call}: the function has no role in the expanded template")
        elif not role.allows(call.action, call.resource):
            problems.append(f"{call}: not allowed by {call.function}Role")
    return problems


def unused(calls: list[Call], function_roles: Mapping[str, Role]) -> dict[tuple[str, str, str], Grant]:
    """What each role allows that no recorded call of its function used: (function, action, resource)
    -> the grant (a managed policy's says why Lambda, not the code, uses it)."""
    found: dict[tuple[str, str, str], Grant] = {}
    for function, role in function_roles.items():
        made = [call for call in calls if call.function == function]
        for grant in role.grants:
            if grant.effect != "Allow":
                continue
            for action in grant.actions:
                for resource in grant.resources:
                    if not any(
                        fnmatch.fnmatchcase(call.action.lower(), action.lower())
                        and _resource_matches(resource, call.resource)
                        for call in made
                    ):
                        found[(function, action, resource)] = grant
    return found


def main() -> int:
    """Print each function's grants (what `make permissions` shows a reviewer)."""
    for function, role in sorted(roles().items()):
        print(function)
        for grant in role.grants:
            actions, resources = ", ".join(grant.actions), ", ".join(grant.resources)
            print(f"  {grant.effect} {actions} on {resources} ({grant.source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
