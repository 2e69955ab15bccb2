"""Starting the service without any setting (development key and secret, printed with how to use
them), and `make run` itself stopping on SIGTERM with no process left behind."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import API_ANSWER_SECONDS, ROOT, LocalService, json_of, service_env
from tests.support import completion_payload, signed_headers

pytestmark = pytest.mark.e2e


def test_without_settings_it_makes_a_development_key_and_says_how_to_use_it(tmp_path: Path) -> None:
    env, marker = service_env(tmp_path)
    service = LocalService(
        [sys.executable, "-m", "local.emulator.server"], env, tmp_path / "log", marker
    ).start()
    try:
        banner = service.output()
        assert service.base in banner
        assert "make token USER=user_1 ORG=org_1" in banner
        assert "curl " in banner
        secret = re.search(r"webhook secret: (whsec_\S+)", banner)
        assert secret, banner

        token = subprocess.run(
            [sys.executable, "-m", "deploy.base.devkeys", "token", "--user", "user_dev"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        path = f"{service.base}/api/images/job_dev/status"
        assert requests.get(path, timeout=API_ANSWER_SECONDS).status_code == 401
        assert (
            requests.get(
                path, headers={"authorization": f"Bearer {token}"}, timeout=API_ANSWER_SECONDS
            ).status_code
            == 404
        )

        body = json.dumps(completion_payload("job_dev", user_id="user_dev", images=1))
        headers = signed_headers(body, secret=secret.group(1))
        delivered = requests.post(
            f"{service.base}/api/webhooks/image-completion",
            data=body,
            headers=headers,
            timeout=API_ANSWER_SECONDS,
        )
        assert json_of(delivered)["outcome"] == "created"
        status = requests.get(path, headers={"authorization": f"Bearer {token}"}, timeout=API_ANSWER_SECONDS)
        assert json_of(status)["status"] == "completed"
    finally:
        assert service.stop() == 0


def test_make_run_stops_on_sigterm_and_leaves_nothing(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / ".installed").exists():
        pytest.skip("make run uses the project's .venv, which this run has not made")
    env, marker = service_env(tmp_path, LOCAL_GENERATOR="off")
    service = LocalService(
        ["make", "--no-print-directory", "-s", "run"], env, tmp_path / "log", marker
    ).start()
    assert requests.get(f"{service.base}/openapi.json", timeout=API_ANSWER_SECONDS).status_code == 200
    assert service.stop() is not None  # make forwards SIGTERM to the service, and waits for it
