"""`make run DYNAMODB=local`: the local service on AWS's DynamoDB Local, its data kept between restarts
with DYNAMODB_PERSIST=1, and the Java server stopped with the service."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from local.harness.parties import TokenMinter
from tests.conftest import require_dynamodb_local
from tests.e2e.conftest import ROOT, LocalService, json_of, own_keys, service_env

pytestmark = pytest.mark.e2e


def start(tmp_path: Path, jwks_file: Path) -> LocalService:
    settings = {"LOCAL_GENERATOR": "off", "DYNAMODB": "local", "DYNAMODB_PERSIST": "1", **own_keys(jwks_file)}
    env, marker = service_env(tmp_path, **settings)  # the same MEDIAGEN_LOCAL_DIR each time
    return LocalService(
        [sys.executable, "-m", "local.emulator.server"], env, tmp_path / "log", marker
    ).start()


def test_jobs_survive_a_restart_on_dynamodb_local(
    tmp_path: Path, jwks_file: Path, minter: TokenMinter
) -> None:
    require_dynamodb_local()
    auth = minter.auth("user_kept")

    # Given the service on DynamoDB Local with persistence, and a job created there
    service = start(tmp_path, jwks_file)
    try:
        info = service.info()
        assert info["dynamodb_endpoint"] != info["aws_endpoint"]
        # (its port is one more that `make run` opens: a rebound page's Host is refused there too)
        dynamodb_port = info["dynamodb_endpoint"].rsplit(":", 1)[1]
        foreign_host = {"host": f"evil.example.com:{dynamodb_port}"}
        rebound = requests.post(info["dynamodb_endpoint"], data="{}", headers=foreign_host, timeout=10)
        assert (rebound.status_code, json_of(rebound)["code"]) == (421, "misdirected_request")
        created = requests.post(
            f"{service.base}/api/images/generate",
            data=json.dumps({"prompt": "Un phare", "job_id": "job_kept"}),
            headers={"content-type": "application/json", **auth},
            timeout=30,
        )
        assert created.status_code == 202, created.text
    finally:
        assert service.stop() == 0  # and nothing it started (Java included) is left
    assert "DynamoDB Local on" in service.log.read_text(errors="replace")  # the banner says so

    # When it starts again, Then the job is still there
    again = start(tmp_path, jwks_file)
    try:
        status = requests.get(f"{again.base}/api/images/job_kept/status", headers=auth, timeout=30)
        assert (status.status_code, json_of(status)["status"]) == (200, "queued")
    finally:
        assert again.stop() == 0
    assert (tmp_path / "local" / "dynamodb-local-data").is_dir()


def test_make_run_on_a_machine_without_java_falls_back_to_moto_in_one_line(
    tmp_path: Path, jwks_file: Path, minter: TokenMinter
) -> None:
    # Given make run's default (DYNAMODB=auto) on a PATH with neither java nor npm (the service's
    # Python is started by its full path, as make does from the project's .venv)
    settings = {"LOCAL_GENERATOR": "off", "DYNAMODB": "auto", **own_keys(jwks_file)}
    env, marker = service_env(tmp_path, **settings)
    env["PATH"] = str(tmp_path / "empty-bin")
    service = LocalService(
        [sys.executable, "-m", "local.emulator.server"], env, tmp_path / "log", marker
    ).start()
    try:
        # Then it serves, with DynamoDB on the embedded moto, and says why in one line
        info = service.info()
        assert info["dynamodb_endpoint"] == info["aws_endpoint"]
        status = requests.get(
            f"{service.base}/api/images/job_fallback/status", headers=minter.auth("user_f"), timeout=30
        )
        assert status.status_code == 404, status.text
        reasons = [line for line in service.output().splitlines() if "DynamoDB Local cannot run here" in line]
        assert len(reasons) == 1, service.output()
        assert "java" in reasons[0]
        assert "Traceback" not in service.output()
    finally:
        assert service.stop() == 0


def test_dynamodb_is_auto_local_or_moto_and_nothing_else(tmp_path: Path, jwks_file: Path) -> None:
    settings = {"LOCAL_GENERATOR": "off", "DYNAMODB": "postgres", **own_keys(jwks_file)}
    env, _ = service_env(tmp_path, **settings)
    result = subprocess.run(
        [sys.executable, "-m", "local.emulator.server"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "DYNAMODB must be auto, local or moto, not 'postgres'" in result.stderr
