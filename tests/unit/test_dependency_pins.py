"""The Lambda layer ships what the tests ran: layers/shared/requirements.txt (what `sam build` installs)
and pyproject.toml's runtime dependencies (what the virtualenv has) pin the same versions."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?==(?P<version>[^\s;#]+)$")


def normalized(requirement: str) -> tuple[str, frozenset[str], str]:
    """(canonical name, extras, version) of an exact pin; anything but `name[extras]==version` fails."""
    match = PIN.match(requirement.replace(" ", ""))
    assert match, f"not an exact pin: {requirement!r}"
    extras = match.group("extras") or "[]"
    return (
        re.sub(r"[-_.]+", "-", match.group("name")).lower(),
        frozenset(e.strip().lower() for e in extras[1:-1].split(",") if e.strip()),
        match.group("version"),
    )


def test_layer_requirements_pin_exactly_the_project_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = (ROOT / "layers" / "shared" / "requirements.txt").read_text().splitlines()
    layer = [line.split("#", 1)[0].strip() for line in lines]
    assert sorted(normalized(r) for r in project) == sorted(normalized(r) for r in layer if r)


def test_a_different_pin_would_be_caught() -> None:
    assert normalized("PyJWT[crypto]==2.15.1") == normalized("pyjwt[Crypto] == 2.15.1")
    assert normalized("boto3==1.44.5") != normalized("boto3==1.44.6")
