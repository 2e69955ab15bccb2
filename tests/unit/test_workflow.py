"""The GitHub Actions pipeline (issue 24): .ci/run's checks on pull requests, dev deployed from main and
prod from tags, AWS credentials by OIDC role assumption only; actionlint accepts it (and `make lint`
runs actionlint in CI)."""

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("actionlint is not installed in this virtualenv (pyproject's dev pins: make venv)")
    return found


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [actionlint(), "-color=false", str(path)], capture_output=True, text=True, check=False, cwd=ROOT
    )


def workflow() -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return document


def test_actionlint_accepts_the_workflow_and_refuses_a_broken_one(tmp_path: Path) -> None:
    done = lint(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / ".github" / "workflows" / "ci.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("${{ vars.AWS_REGION }}", "${{ vars.AWS_REGION }", 1))
    assert lint(broken).returncode != 0


def test_pull_requests_run_the_ci_checks() -> None:
    document = workflow()
    triggers = document[True]  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in triggers
    assert triggers["push"] == {"branches": ["main"], "tags": ["v*"]}
    steps = document["jobs"]["checks"]["steps"]
    assert any(".ci/run" in str(step.get("run", "")) for step in steps)


@pytest.mark.parametrize(
    ("job", "env", "condition"),
    [("deploy-dev", "dev", "refs/heads/main"), ("deploy-prod", "prod", "refs/tags/v")],
)
def test_deploys_assume_a_role_by_oidc_with_no_stored_keys(job: str, env: str, condition: str) -> None:
    deploy = workflow()["jobs"][job]
    assert condition in deploy["if"] and deploy["needs"] == "checks" and deploy["environment"] == env
    assert deploy["permissions"]["id-token"] == "write"
    [credentials] = [step for step in deploy["steps"] if "configure-aws-credentials" in step.get("uses", "")]
    assert set(credentials["with"]) == {"role-to-assume", "aws-region"}  # no access keys
    assert "secrets." not in WORKFLOW.read_text()
    [run] = [step for step in deploy["steps"] if "make deploy" in step.get("run", "")]
    assert f"ENV={env}" in run["run"]
    from deploy.cli import REQUIRED_PARAMETERS

    assert set(REQUIRED_PARAMETERS) <= set(run["env"])  # nothing left for make deploy to ask
