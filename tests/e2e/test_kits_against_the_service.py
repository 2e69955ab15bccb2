"""The kits against the local service over HTTP: the sender kit's Flask example as the generation
backend of `make run` (dispatch with its API key, progress, files in the embedded S3, completion), and
`make demo` (an image and a video job) against a service on another port than 3000."""

import importlib.util
import io
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from PIL import Image

from tests.e2e.conftest import (
    API_ANSWER_SECONDS,
    JOB_SECONDS,
    ROOT,
    LocalService,
    free_port,
    own_keys,
    run_service,
)
from tests.support import WEBHOOK_SECRET, TokenMinter

pytestmark = pytest.mark.e2e
EXAMPLE_KEY = "example-backend-key"


def load_example() -> ModuleType:
    path = ROOT / "kits" / "sender" / "examples" / "flask_backend.py"
    spec = importlib.util.spec_from_file_location("flask_backend_example", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example_backend() -> Iterator[tuple[str, dict[str, Any]]]:
    """The example backend on a free port; its S3 endpoint is known once the service runs."""
    from werkzeug.serving import make_server

    from mediagen_sender import WebhookSender

    example = load_example()
    s3: dict[str, Any] = {}

    def store(key: str, data: bytes, content_type: str) -> None:
        s3["client"].put_object(Bucket=s3["bucket"], Key=key, Body=data, ContentType=content_type)

    app = example.create_app([EXAMPLE_KEY], WebhookSender([WEBHOOK_SECRET]), store)
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jobs", s3
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def service_with_example(
    tmp_path_factory: pytest.TempPathFactory, jwks_file: Path, example_backend: tuple[str, dict[str, Any]]
) -> Iterator[LocalService]:
    import boto3

    url, s3 = example_backend
    settings = {**own_keys(jwks_file), "GENERATOR_URL": url, "GENERATOR_API_KEY": EXAMPLE_KEY}
    for service in run_service(tmp_path_factory.mktemp("example"), **settings):
        info = service.info()
        s3["bucket"] = info["media_bucket"]
        s3["client"] = boto3.client(
            "s3",
            endpoint_url=info["aws_endpoint"],
            region_name=info["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        yield service


def test_the_flask_example_is_the_backend_of_a_job(
    service_with_example: LocalService, minter: TokenMinter
) -> None:
    author = minter.auth("user_example")
    base = service_with_example.base
    job_id = f"ex_{uuid.uuid4().hex[:10]}"
    body = {"prompt": "Un phare", "job_id": job_id, "num_images": 2, "size": "96x64"}
    answer = requests.post(
        f"{base}/api/images/generate", json=body, headers=author, timeout=API_ANSWER_SECONDS
    )
    assert answer.status_code == 202, answer.text

    deadline, status = time.monotonic() + JOB_SECONDS, {}
    while time.monotonic() < deadline:
        status = requests.get(
            f"{base}/api/images/{job_id}/status", headers=author, timeout=API_ANSWER_SECONDS
        ).json()
        if status["status"] in ("completed", "failed", "canceled"):
            break
        time.sleep(0.2)
    assert status["status"] == "completed", status

    result = requests.get(
        f"{base}/api/images/{job_id}/result", headers=author, timeout=API_ANSWER_SECONDS
    ).json()
    assert result["model"] == "example-flat-png" and result["prompt"] == "Un phare"
    for image in result["images"]:
        picture = Image.open(io.BytesIO(requests.get(image["url"], timeout=API_ANSWER_SECONDS).content))
        assert picture.size == (96, 64) == (image["width"], image["height"])


def test_the_flask_example_checks_the_api_key() -> None:
    from mediagen_sender import WebhookSender

    app = load_example().create_app([EXAMPLE_KEY], WebhookSender([WEBHOOK_SECRET]), store=None, start=print)
    client = app.test_client()
    job = {"job_id": "j_1", "kind": "image", "webhook_url": "http://127.0.0.1:9/hook"}
    assert client.post("/jobs", json=job).status_code == 401
    assert client.post("/jobs", json=job, headers={"Authorization": "Bearer wrong"}).status_code == 401
    accepted = client.post("/jobs", json=job, headers={"Authorization": f"Bearer {EXAMPLE_KEY}"})
    assert accepted.status_code == 202 and accepted.get_json() == {"job_id": "j_1"}
    refused = client.post("/jobs", json={"job_id": "j_1"}, headers={"Authorization": f"Bearer {EXAMPLE_KEY}"})
    assert refused.status_code == 422


@pytest.fixture(scope="module")
def default_service(tmp_path_factory: pytest.TempPathFactory, jwks_file: Path) -> Iterator[LocalService]:
    yield from run_service(tmp_path_factory.mktemp("demo"), **own_keys(jwks_file))


def test_make_demo_follows_port_and_covers_a_video(
    default_service: LocalService, minter: TokenMinter
) -> None:
    env = {
        **os.environ,
        "PORT": default_service.env["PORT"],  # as in `PORT=3001 make demo`
        "TOKEN": minter.token("demo_user", org="demo_org", expires_in=600),
        "PYTHONPATH": "layers/shared:functions:.",
    }
    env.pop("MEDIAGEN_URL", None)
    demo = subprocess.run(
        [sys.executable, "-m", "local.emulator.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "image 1: 512x512 png, OK" in demo.stdout
    assert "video 0:" in demo.stdout and "VIDEO_COMPLETED" in demo.stdout
    assert "demo passed" in demo.stdout


# Every Python block of the READMEs and docs is meant to run as a newcomer pastes it.
DOCUMENTS = [ROOT / "README.md", *sorted(ROOT.glob("kits/*/README.md")), *sorted(ROOT.glob("docs/*.md"))]


def python_blocks(document: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", document.read_text(), flags=re.S | re.M)


def test_the_readmes_python_blocks_run_as_written(default_service: LocalService, tmp_path: Path) -> None:
    """As a newcomer runs them: pasted into a fresh interpreter with only the kit installed, against
    `make run` (its URL and webhook secret in the environment the block reads)."""
    blocks = [(document, block) for document in DOCUMENTS for block in python_blocks(document)]
    assert any(document.parts[-3:] == ("kits", "sender", "README.md") for document, _ in blocks)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT / "kits" / "sender" / "src"),  # the kit alone, not the layer
        "WEBHOOK_SECRETS": default_service.env["WEBHOOK_SECRETS"],
        "MEDIAGEN_URL": default_service.base,
    }
    for document, block in blocks:
        ran = subprocess.run(  # noqa: S603 - the documents' own code
            [sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert ran.returncode == 0, f"{document.relative_to(ROOT)}:\n{block}\n{ran.stderr[-2000:]}"
        if "sender.send(" in block:
            assert ran.stdout.split()[-1] in ("created", "updated", "duplicate"), ran.stdout
