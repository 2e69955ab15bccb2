"""dynalite: an independent DynamoDB implementation (Node.js, npm), to cross-check what moto tells us.

The session fixture installs the version pinned by package.json / package-lock.json (next to this file)
into .local/dynalite on first use (`npm ci`, no install scripts: the in-memory store needs none), starts
it on a free loopback port, and stops it at the end. Only a machine without node or npm skips these
tests (MEDIAGEN_REQUIRE_DYNALITE=1 makes that a failure too); anything else that goes wrong fails them,
with npm's or dynalite's output.
"""

import fcntl
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from infra.cfn_template import create_tables
from tests.conftest import TABLE_NAMES, reset_process_state

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
INSTALL_DIR = ROOT / ".local" / "dynalite"
CLI = INSTALL_DIR / "node_modules" / "dynalite" / "cli.js"
MIN_NODE_MAJOR = 20  # dynalite 4's "engines"
INSTALL_TIMEOUT_SECONDS = 600
START_TIMEOUT_SECONDS = 20

# What the tests observed (answer counts and the like), printed in pytest's summary.
OBSERVED: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if OBSERVED:
        terminalreporter.section("dynalite cross-check: observed")
        for line in OBSERVED:
            terminalreporter.write_line(line)


@pytest.fixture
def observe() -> Callable[[str], None]:
    return OBSERVED.append


def _tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        reason = "dynalite cross-check needs node and npm on PATH (neither is a Python dependency)"
        if os.environ.get("MEDIAGEN_REQUIRE_DYNALITE") == "1":  # a CI that must not lose these tests
            pytest.fail(reason)
        pytest.skip(reason)
    probe = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)  # noqa: S603
    version = probe.stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < MIN_NODE_MAJOR:
        pytest.fail(f"dynalite needs node >= {MIN_NODE_MAJOR}; this machine has {version}")
    return node, npm


def _installed() -> bool:
    lock = INSTALL_DIR / "package-lock.json"
    return CLI.exists() and lock.exists() and lock.read_bytes() == (HERE / "package-lock.json").read_bytes()


def install_dynalite(npm: str) -> float:
    """Install the pinned dynalite into .local/dynalite unless it is there already. Returns the seconds
    spent installing (0 when it was cached). A file lock keeps two test sessions from racing."""
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    with (INSTALL_DIR / ".install.lock").open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if _installed():
            return 0.0
        started = time.monotonic()
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(HERE / name, INSTALL_DIR / name)
        result = subprocess.run(  # noqa: S603 - a fixed argv, no shell
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=INSTALL_DIR,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
            check=False,
        )
        if result.returncode != 0 or not CLI.exists():
            (INSTALL_DIR / "package-lock.json").unlink(missing_ok=True)  # retry on the next run
            pytest.fail(f"npm ci of dynalite failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return time.monotonic() - started


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(endpoint: str) -> bool:
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}),
    )
    try:
        client.list_tables()
    except Exception:
        return False
    return True


def _port_closed(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _start(node: str, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start dynalite on a free loopback port (another free port if one was taken meanwhile)."""
    for _ in range(3):
        port = _free_port()
        with log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
                [
                    node,
                    str(CLI),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    # Tables are ACTIVE / gone at once: each test recreates them.
                    "--createTableMs",
                    "0",
                    "--deleteTableMs",
                    "0",
                    "--updateTableMs",
                    "0",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            if _answers(endpoint):
                return process, endpoint
            time.sleep(0.1)
        _stop(process)
    pytest.fail(f"dynalite did not start; its output:\n{log_path.read_text(errors='replace')}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def dynalite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint of a dynalite server (in memory) for this session; stopped, and checked gone, after."""
    node, npm = _tools()
    install_seconds = install_dynalite(npm)
    OBSERVED.append(
        f"dynalite install: {install_seconds:.1f} s" if install_seconds else "dynalite install: cached"
    )
    process, endpoint = _start(node, tmp_path_factory.mktemp("dynalite") / "dynalite.log")
    try:
        yield endpoint
    finally:
        _stop(process)
        port = int(endpoint.rsplit(":", 1)[1])
        assert process.returncode is not None, "dynalite is still running"
        assert _port_closed(port), f"something still listens on dynalite's port {port}"


def _delete_tables(client: Any) -> None:
    existing = set(client.list_tables()["TableNames"])
    for name in TABLE_NAMES.values():
        if name in existing:
            client.delete_table(TableName=name)
            client.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 1})


@pytest.fixture
def dynalite_tables(dynalite: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Fresh tables from template.yaml on dynalite (same names: the models read them at import time);
    every DynamoDB client of the code under test points at dynalite."""
    client = boto3.client("dynamodb", endpoint_url=dynalite)
    _delete_tables(client)
    create_tables(client, TABLE_NAMES)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite)
    reset_process_state()
    yield dynalite
    reset_process_state()
