"""CloudFormation intrinsic functions, resolved to the local stack's values.

`Ref` and `Fn::GetAtt` are looked up in tables the local stack fills (parameters, pseudo parameters,
table names, queue URLs and ARNs...); `Fn::Sub`, `Fn::Join`, `Fn::Split`, `Fn::Select` and `Fn::If`
(with the template's Conditions) are computed.
Anything else is refused with a clear error rather than guessed.
"""

import re
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from deploy.base.lambda_events import ACCOUNT_ID, REGION

PSEUDO_PARAMETERS = {
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "mediagen-local",
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/mediagen-local/local",
}
_NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class UnsupportedIntrinsic(ValueError):
    pass


class Resolver:
    """`refs`: what `Ref X` gives; `attributes`: what `Fn::GetAtt X.Y` gives, keyed "X.Y". Both are read
    live, so values added after the resolver is made (a queue's URL, a secret's ARN) are seen."""

    def __init__(
        self,
        refs: Mapping[str, Any],
        attributes: Mapping[str, Any],
        conditions: Mapping[str, Any] | None = None,
    ) -> None:
        self.refs: Mapping[str, Any] = ChainMap(refs, PSEUDO_PARAMETERS)  # type: ignore[arg-type]
        self.attributes = attributes
        self.conditions = conditions or {}  # the template's Conditions, evaluated on use

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise UnsupportedIntrinsic(f"Condition {name} is not defined in the template")
        return self._truth(self.conditions[name])

    def _truth(self, value: Any) -> bool:
        if isinstance(value, dict) and len(value) == 1:
            [(key, argument)] = value.items()
            if key == "Condition":
                return self.condition(argument)
            if key == "Fn::Equals":
                left, right = (self(item) for item in argument)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._truth(argument[0])
            if key == "Fn::And":
                return all(self._truth(item) for item in argument)
            if key == "Fn::Or":
                return any(self._truth(item) for item in argument)
        raise UnsupportedIntrinsic(f"{value!r} is not a condition the local stack evaluates")

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in map(self, value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            [(key, argument)] = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, argument)
        resolved = {key: self(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _intrinsic(self, name: str, argument: Any) -> Any:
        if name == "Ref":
            return _NO_VALUE if argument == "AWS::NoValue" else self._lookup(self.refs, argument, "Ref")
        if name == "Fn::GetAtt":
            resource, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._lookup(self.attributes, f"{resource}.{attribute}", "Fn::GetAtt")
        if name == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            return self._sub(text, {key: self(item) for key, item in variables.items()})
        if name == "Fn::Join":
            separator, items = argument
            return separator.join(str(item) for item in self(items))
        if name == "Fn::Split":
            separator, text = argument
            return str(self(text)).split(separator)
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self(when_true if self.condition(condition) else when_false)
        if name == "Fn::Select":
            index, items = argument
            return self(items)[int(self(index))]
        raise UnsupportedIntrinsic(f"{name} is not supported by the local stack (deploy/base/intrinsics.py)")

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self._lookup(self.attributes, name, "Fn::Sub"))
            return str(self._lookup(self.refs, name, "Fn::Sub"))

        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")

    @staticmethod
    def _lookup(table: Mapping[str, Any], name: str, intrinsic: str) -> Any:
        if name not in table:
            raise UnsupportedIntrinsic(f"{intrinsic} {name}: no local value for it (local/emulator/stack.py)")
        return table[name]
