"""`make smoke API_URL=...` against `make run`, as CI runs it: the front end's whole flow (generate,
webhooks, status, result, notifications, cancel, unknown routes) passes against the local service with
its development key and secret, and fails, saying why, against a service that does not trust them."""

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, LocalService, service_env

pytestmark = pytest.mark.e2e


def make_smoke(env: dict[str, str], base: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own make target
        ["make", "--no-print-directory", "-s", "smoke", f"API_URL={base}"],  # noqa: S607 - make from PATH
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
def make_run(tmp_path: Path) -> "tuple[LocalService, dict[str, str]]":
    if not (ROOT / ".venv" / ".installed").exists():
        pytest.skip("make run and make smoke use the project's .venv, which this run has not made")
    env, marker = service_env(tmp_path)  # no settings: the development key and secret of .local/
    service = LocalService(["make", "--no-print-directory", "-s", "run"], env, tmp_path / "log", marker)
    return service.start(), env


def test_make_smoke_passes_against_make_run(make_run: "tuple[LocalService, dict[str, str]]") -> None:
    service, env = make_run
    try:
        smoke = make_smoke(env, service.base)
    finally:
        assert service.stop() is not None
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert f"smoke passed against {service.base}" in smoke.stdout
    assert smoke.stdout.count("\n") >= 10  # every step printed


def test_make_smoke_fails_with_a_secret_the_service_does_not_hold(
    make_run: "tuple[LocalService, dict[str, str]]",
) -> None:
    service, env = make_run
    other = {**env, "WEBHOOK_SECRET": "whsec_" + "A" * 40}
    try:
        smoke = make_smoke(other, service.base)
    finally:
        assert service.stop() is not None
    assert smoke.returncode != 0
    assert "smoke FAILED" in smoke.stderr and "HTTP 401" in smoke.stderr
