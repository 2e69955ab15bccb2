"""The local service as `make run` starts it: a subprocess on a free loopback port, with the test's own
issuer, keys and webhook secret, driven over real HTTP, and stopped by SIGTERM with nothing left."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from deploy.base.cfn_functions import functions, http_routes
from local.harness import aws_calls, log_leaks
from local.harness.processes import processes_with
from tests.support import FRONT_END, ISSUER, WEBHOOK_SECRET, TokenMinter

ROOT = Path(__file__).resolve().parents[2]
# A start imports the handlers' libraries (in the service and in its sandboxes' forkserver) and makes
# the stack in the embedded AWS: about 3 s on a quiet machine; 60 times that.
START_SECONDS = 180
# A stop on SIGTERM winds down the invocations under way and the event sources' last batches: about
# 1 s quiet (6 s seen with a loaded machine); 60 s. It checks that the service stops by itself.
STOP_SECONDS = 60
GENERATOR_KEY = "e2e-generator-key"
# Lambda's timeouts, ten times over: these tests are about answers, not time, on a machine that may run
# other suites beside them (the timeouts themselves: test_sandbox_timeouts.py).
TIMEOUT_SCALE = 10
# A job through the stand-in generator: three invocations in a row (generate, the dispatch, the
# stand-in's webhook) and two queue reads, about 2 s on a quiet machine; 90 times that. A wait for a
# job's end stops when it ends: the bound only stops a broken run.
JOB_SECONDS = 180


def longest_answer_seconds() -> int:
    """The longest the local service, as run_service starts it, may take over one API request once a
    sandbox of its function is free: the slowest HTTP function's Timeout in template.yaml, times
    TIMEOUT_SCALE. Then the sandbox stops the invocation and the service answers its error."""
    return max(spec.timeout for spec in functions() if spec.events_of_type("HttpApi")) * TIMEOUT_SCALE


# How long a test waits for an API answer: what the service itself allows (above), twice, which covers a
# cold sandbox start and one invocation ahead of it on a loaded 2-core machine. A quiet machine answers
# in well under a second, and a wait ends when the answer comes: the bound costs nothing then.
API_ANSWER_SECONDS = 2 * longest_answer_seconds()


def has_route(route_key: str) -> bool:
    return route_key in {route.route_key for route in http_routes()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LocalService:
    command: list[str]
    env: dict[str, str]
    log: Path
    marker: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def start(self) -> "LocalService":
        # A free port is probed before the service binds it: another process (another test suite on
        # the machine, or any outgoing connection's ephemeral port) may take it in between. Then the
        # service says so and exits, or serves without its playground: start it on other ports.
        for attempt in range(3):
            with self.log.open("wb") as log:
                self.process = subprocess.Popen(  # noqa: S603 - our own command line
                    self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
                )
            try:
                self.wait_until_ready()
            except BaseException:
                self.process.kill()  # whatever failed, nothing is left running
                self.process.wait()
                if attempt < 2 and self.port_was_taken():
                    self.env.update(PORT=str(free_port()), PLAYGROUND_PORT=str(free_port()))
                    continue
                raise
            if attempt < 2 and "PLAYGROUND_PORT" in self.env and "Playground not served" in self.output():
                self.stop()
                self.env.update(PLAYGROUND_PORT=str(free_port()))
                continue
            return self
        raise AssertionError("unreachable: the last attempt returns or raises")

    def port_was_taken(self) -> bool:
        return "Cannot listen on" in self.output() and "in use" in self.output()

    def wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"The local service exited with {self.process.returncode}:\n{self.output()}")
            try:  # the port is bound before the service is ready: early requests wait in the backlog
                answers = requests.get(f"{self.base}/_local/info", timeout=5).status_code == 200
                # Ready as a user sees it: answering, and its banner printed (which follows the
                # start of its HTTP server by a few milliseconds, or more on a busy machine).
                if answers and self.base in self.log.read_text(errors="replace"):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        pytest.fail(f"The local service did not start in {START_SECONDS} s:\n{self.output()}")

    def info(self) -> dict[str, Any]:
        document: dict[str, Any] = requests.get(f"{self.base}/_local/info", timeout=API_ANSWER_SECONDS).json()
        return document

    def stop(self) -> int | None:
        """SIGTERM, then: the process exited by itself, and no process it started is left."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"The local service ignored SIGTERM for {STOP_SECONDS} s:\n{self.output()}")
        # What it started exits with it (a sandbox sees its pipe close; the forkserver, its socket): a
        # few exits, milliseconds quiet; 30 s for a loaded machine, waited for, not slept
        deadline = time.monotonic() + 30
        while processes_with(self.marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_with(self.marker) == [], f"left behind:\n{self.output()}"
        return code


def service_env(tmp: Path, **settings: str) -> tuple[dict[str, str], str]:
    marker = f"MEDIAGEN_E2E_{uuid.uuid4().hex}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(tmp)),
        "LANG": "C.UTF-8",
        "PYTHONPATH": "layers/shared:functions:.",
        "MEDIAGEN_LOCAL_DIR": str(tmp / "local"),
        "PORT": str(free_port()),
        "PLAYGROUND_PORT": str(free_port()),  # not PORT+1: another test's service may hold it
        "LOCAL_TIMEOUT_SCALE": str(TIMEOUT_SCALE),
        marker: "1",
        **settings,
    }
    if os.environ.get(aws_calls.VARIABLE):  # the functions' AWS calls, recorded (test_permissions.py)
        env[aws_calls.VARIABLE] = os.environ[aws_calls.VARIABLE]
    if os.environ.get(log_leaks.VARIABLE):  # their log lines and prompts (tests/conftest.py)
        env[log_leaks.VARIABLE] = os.environ[log_leaks.VARIABLE]
    return env, marker


def own_keys(jwks_file: Path) -> dict[str, str]:
    return {
        "AUTH_ISSUER": ISSUER,
        "AUTH_JWKS_URL": jwks_file.as_uri(),
        "AUTH_AUTHORIZED_PARTIES": f"{FRONT_END},http://localhost:3001",
        "WEBHOOK_SECRETS": f"{WEBHOOK_SECRET},whsec_c2Vjb25kIHNlY3JldCBvZiB0aGUgZTJlIHRlc3Rz",
    }


def run_service(tmp: Path, **settings: str) -> Iterator[LocalService]:
    env, marker = service_env(tmp, **settings)
    command = [sys.executable, "-m", "local.emulator.server"]  # what `make run` runs
    service = LocalService(command, env, tmp / "service.log", marker).start()
    yield service
    assert service.stop() == 0, service.output()


@pytest.fixture(scope="module")
def service_off(tmp_path_factory: pytest.TempPathFactory, jwks_file: Path) -> Iterator[LocalService]:
    """Stand-in generator off: jobs wait for the webhooks the test sends."""
    yield from run_service(tmp_path_factory.mktemp("off"), LOCAL_GENERATOR="off", **own_keys(jwks_file))


@pytest.fixture(scope="module")
def service_on(tmp_path_factory: pytest.TempPathFactory, jwks_file: Path) -> Iterator[LocalService]:
    """The default: the stand-in generator completes jobs by itself."""
    keys = {**own_keys(jwks_file), "GENERATOR_API_KEY": GENERATOR_KEY}
    yield from run_service(tmp_path_factory.mktemp("on"), **keys)


@pytest.fixture(scope="module")
def minter(signing_key: Any) -> TokenMinter:
    return TokenMinter(signing_key, "test-key-1")


def json_of(response: requests.Response) -> Any:
    assert response.headers["content-type"].startswith("application/json"), response.text
    return json.loads(response.content)
