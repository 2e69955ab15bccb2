"""docs/deploy.md stays true to template.yaml and the kits (issue 24): every parameter is in its table
with the template's default, every table and bucket the stack keeps is named at tear-down, the front
end's variable is the kit's own."""

import re
from pathlib import Path

from deploy.base.cfn_template import load_template

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = DOC.index(f"## {title}")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end != -1 else None]


def test_every_parameter_is_documented_with_its_default() -> None:
    rows = {
        match.group(1): match.group(2).strip()
        for match in re.finditer(r"^\| `(\w+)` \| ([^|]*) \|", section("3. Parameters"), re.M)
    }
    for name, declared in load_template()["Parameters"].items():
        assert name in rows, f"docs/deploy.md, section 3, has no row for the parameter {name}"
        default = declared.get("Default")
        expected = "(required)" if default is None else (str(default) if default != "" else "empty")
        assert rows[name].strip("`") == expected, (
            f"{name}: documented default {rows[name]}, template {expected}"
        )


def test_tear_down_names_everything_the_stack_keeps() -> None:
    tear_down = section("10. Tear-down")
    kept = [
        name
        for name, resource in load_template()["Resources"].items()
        if resource.get("DeletionPolicy") == "Retain"
    ]
    tables = [name for name in kept if load_template()["Resources"][name]["Type"] == "AWS::DynamoDB::Table"]
    for name in kept:
        if name in tables:
            assert f"`{name}`" in tear_down, f"tear-down does not name the kept table {name}"
    numbers = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
    assert f"the {numbers[len(tables)]} DynamoDB tables" in tear_down
    assert "media bucket" in tear_down and "aws-sam-cli-managed-default" in tear_down


def test_the_front_ends_variable_is_the_kits() -> None:
    kit = (ROOT / "kits" / "frontend" / "README.md").read_text(encoding="utf-8")
    variable = "NEXT_PUBLIC_MEDIAGEN_URL"  # the API's base URL, in the kit's README
    assert re.search(rf"{variable}=http", kit), "the front-end kit no longer names its API URL variable so"
    assert variable in section("5. Hand over")
    assert "NEXT_PUBLIC_API_URL" not in DOC


def test_prerequisites_and_the_smoke_token_are_explained() -> None:
    prerequisites = section("1. Prerequisites")
    assert (
        "AWS CLI" in prerequisites and "AWS_REGION" in prerequisites and "make deploy-check" in prerequisites
    )
    hand_over = section("5. Hand over")
    assert "60 seconds" in hand_over and "/v1/sessions" in hand_over and "JWT template" in hand_over
