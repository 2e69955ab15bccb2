"""Each function starts with exactly the environment template.yaml gives it (issue 24): no variable its
cold-start settings check needs is missing from the template.

Every function of the template, whatever it is: its variables (Globals and its own, intrinsics resolved
as CloudFormation would: parameters at their defaults or sample values, resources by name, URL or ARN),
plus what Lambda itself sets (region, function name, credentials), and nothing else: no variable of
this test session leaks in. Its handler module is imported in a fresh interpreter, as Lambda's init
phase does; the import runs `load_settings(...)`, which fails the cold start on a missing or malformed
variable.
"""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from deploy.base.cfn_functions import FunctionSpec, functions
from deploy.base.cfn_template import load_template
from deploy.base.lambda_events import REGION
from deploy.permissions import resolver

ROOT = Path(__file__).resolve().parents[2]


def lambda_environment(spec: FunctionSpec, variables: dict[str, Any] | None = None) -> dict[str, str]:
    """What the function's sandbox holds: the template's variables, resolved, and Lambda's own."""
    resolved = resolver(load_template())(spec.environment if variables is None else variables)
    return {
        **{name: str(value) for name, value in resolved.items()},
        # Reserved variables Lambda sets in every sandbox (and the role's temporary credentials).
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE00",
        "AWS_SECRET_ACCESS_KEY": "example-secret-key",
        "AWS_SESSION_TOKEN": "example-session-token",
        "TZ": ":UTC",
        # Where Lambda puts the layer (/opt/python) and the function's code: here, the source folders.
        "PYTHONPATH": f"{ROOT / 'layers/shared'}:{ROOT / 'functions'}",
        "PATH": "/usr/bin:/bin",
    }


def cold_start(spec: FunctionSpec, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Lambda's init phase: the handler module imported in a fresh interpreter, nothing else set."""
    code = f"import importlib; getattr(importlib.import_module({spec.module!r}), {spec.attribute!r})"
    return subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code],
        cwd=ROOT / "functions",
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_function_starts_with_the_environment_the_template_gives_it() -> None:
    specs = functions()
    assert specs
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda spec: (spec, cold_start(spec, lambda_environment(spec))), specs))
    failed = [
        f"{spec.logical_id}: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
        for spec, done in results
        if done.returncode != 0
    ]
    assert failed == [], "cold starts that would fail in AWS:\n" + "\n".join(failed)


@pytest.mark.parametrize(
    ("function", "variable"),
    [("GenerateFunction", "DISPATCH_QUEUE_URL"), ("GenerationResultFunction", "MEDIA_BUCKET")],
)
def test_a_variable_removed_from_the_template_fails_the_cold_start(function: str, variable: str) -> None:
    """The check can fail: the same function without one variable the template gives it."""
    [spec] = [spec for spec in functions() if spec.logical_id == function]
    variables = {name: value for name, value in spec.environment.items() if name != variable}
    done = cold_start(spec, lambda_environment(spec, variables))
    assert done.returncode != 0
    assert f"missing {variable}" in done.stderr.strip().splitlines()[-1]
