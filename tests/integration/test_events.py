"""`make events`: one event per function of template.yaml and an env.json, for `sam local`. Written now,
each event, handed to its handler here (against moto) with env.json's variables, gets its documented
answer (deploy.events.ANSWERS); tokens and signatures are valid for the local development key and
secret, and only for them."""

import importlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from deploy.base.cfn_functions import functions
from deploy.base.lambda_events import LambdaContext
from deploy.events import ANSWERS, ENV_FILE, JOB_ID, Credentials, render_all, write
from tests.conftest import reset_process_state

pytestmark = pytest.mark.usefixtures("aws")

# The order of ANSWERS: generate, dispatch, the webhook, then the reads and the rest.
ORDER = list(ANSWERS)


@pytest.fixture
def written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`make events` into a fresh folder, with a development key and secret of its own."""
    monkeypatch.setenv("MEDIAGEN_LOCAL_DIR", str(tmp_path / "local"))
    folder = tmp_path / "events"
    write(folder, render_all(Credentials()))
    return folder


@pytest.fixture
def generation_backend() -> Iterator[list[dict[str, Any]]]:
    """A generation backend on a loopback port that accepts every job (202) and records it."""
    received: list[dict[str, Any]] = []

    class Backend(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            answer = json.dumps({"job_id": received[-1].get("job_id")}).encode()
            self.send_response(202)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    server.received = received  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENERATOR_URL", f"http://127.0.0.1:{server.server_address[1]}/jobs")
        patch.setenv("GENERATOR_API_KEY", "local")
        yield received
    server.shutdown()
    server.server_close()
    thread.join()


def invoke(folder: Path, logical_id: str) -> Any:
    spec = next(spec for spec in functions() if spec.logical_id == logical_id)
    event = json.loads((folder / f"{logical_id}.json").read_text(encoding="utf-8"))
    handler = getattr(importlib.import_module(spec.module), spec.attribute)
    return handler(event, LambdaContext(function_name=logical_id))


def apply_env_json(folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What `sam local --env-vars env.json` does: its variables, over the template's."""
    variables: dict[str, str] = json.loads((folder / ENV_FILE).read_text())["Parameters"]
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    reset_process_state()
    return variables


def body(answer: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(answer["body"])
    return document


def test_every_function_has_an_event_and_a_documented_answer(written: Path) -> None:
    names = {spec.logical_id for spec in functions()}
    assert {path.stem for path in written.glob("*.json")} == names | {Path(ENV_FILE).stem}
    assert set(ANSWERS) == names


def test_env_json_sets_only_variables_the_template_declares(written: Path) -> None:
    """sam local ignores a variable that the template does not declare: each must be declared."""
    declared = {name for spec in functions() for name in spec.environment}
    variables = json.loads((written / ENV_FILE).read_text())["Parameters"]
    assert set(variables) <= declared
    assert variables["AUTH_JWKS_URL"].startswith("data:application/json;base64,")
    assert variables["WEBHOOK_SECRETS"].startswith("whsec_")


def test_each_event_gets_its_documented_answer(
    written: Path, monkeypatch: pytest.MonkeyPatch, generation_backend: list[dict[str, Any]]
) -> None:
    variables = apply_env_json(written, monkeypatch)
    answers = {name: invoke(written, name) for name in ORDER}

    # Given empty tables, when the events are invoked in order, then each answers as documented.
    created = answers["GenerateFunction"]
    assert created["statusCode"] == 202, created
    assert body(created)["job_id"] == JOB_ID and body(created)["status"] == "queued"
    assert answers["DispatchFunction"] == {"batchItemFailures": []}
    assert [job["job_id"] for job in generation_backend] == [JOB_ID]
    webhook = answers["CompletionWebhookFunction"]
    assert webhook["statusCode"] == 200 and body(webhook) == {"job_id": JOB_ID, "outcome": "updated"}
    status = answers["GenerationStatusFunction"]
    assert status["statusCode"] == 200 and body(status)["status"] == "completed"
    result = answers["GenerationResultFunction"]
    assert result["statusCode"] == 200 and len(body(result)["images"]) == 1
    assert "X-Amz-Signature=" in body(result)["images"][0]["url"]
    canceled = answers["CancelGenerationFunction"]
    assert canceled["statusCode"] == 409 and body(canceled)["status"] == "completed"
    notifications = answers["NotificationsFunction"]
    assert notifications["statusCode"] == 200
    assert [item["metadata"]["generation_id"] for item in body(notifications)["items"]] == [JOB_ID]
    assert answers["StuckJobSweeperFunction"]["timed_out"] == 0
    library = answers["LibraryFunction"]
    assert library["statusCode"] == 200, library
    [item] = body(library)["items"]
    assert item["job_id"] == JOB_ID and "X-Amz-Signature=" in item["preview_url"]
    assert answers["RemoveFilesFunction"] == {"batchItemFailures": []}
    unknown = answers["UnknownRouteFunction"]
    assert unknown["statusCode"] == 404 and body(unknown)["code"] == "not_found"
    assert answers["LiveSubscribeFunction"] is None
    assert answers["LivePublisherFunction"] == {
        "batchItemFailures": [{"itemIdentifier": "111100000000000000000001"}]
    }
    clerk = answers["ClerkWebhookFunction"]
    assert clerk["statusCode"] == 200 and body(clerk)["outcome"] == "ignored", clerk
    assert answers["ErasureFunction"] == {"batchItemFailures": []}
    assert variables["AUTH_ISSUER"]


def test_the_events_are_refused_with_other_credentials(
    written: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Signed for the development key and secret of their `.local/`, not for anyone's."""
    apply_env_json(written, monkeypatch)
    monkeypatch.setenv("MEDIAGEN_LOCAL_DIR", str(tmp_path / "another"))
    other = Credentials()
    monkeypatch.setenv("WEBHOOK_SECRETS", other.secret)
    monkeypatch.setenv("AUTH_JWKS_URL", other.jwks_data_url)
    reset_process_state()
    assert invoke(written, "CompletionWebhookFunction")["statusCode"] == 401
    assert invoke(written, "GenerateFunction")["statusCode"] == 401
