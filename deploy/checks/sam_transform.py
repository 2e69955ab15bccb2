"""Run by the SAM translator's own virtualenv (`make sam-translator`: aws-sam-translator pins a pydantic
that the layer's does not meet): template.yaml, as JSON on stdin, expanded by AWS's own SAM transform
into the CloudFormation that `sam deploy` creates (functions' roles and their policies included), as
JSON on stdout. Offline: managed policies are named by ARN, never looked up; local code and nested
template paths become the S3 locations `sam package` would write. Standard library and samtranslator
only (this file is not imported by the project's code)."""

import json
import sys
from typing import Any

from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

LOCATIONS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


class OfflinePolicies(ManagedPolicyLoader):
    """A policy named without its ARN would be looked up in IAM: the template names none that way."""

    def __init__(self) -> None:
        pass

    def load(self) -> dict[str, str]:
        return {}


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    for name, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties") or {}
        key = LOCATIONS.get(resource.get("Type"))
        if key and isinstance(properties.get(key), str):
            properties[key] = f"s3://offline-artifacts/{name}.zip"
        if resource.get("Type") == "AWS::Serverless::Application" and isinstance(
            properties.get("Location"), str
        ):
            properties["Location"] = f"https://offline-artifacts.s3.amazonaws.com/{name}.template"
    return template


def main() -> int:
    request = json.load(sys.stdin)
    expanded = transform(packaged(request["template"]), request["parameters"], OfflinePolicies())
    json.dump(expanded, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
