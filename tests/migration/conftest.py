"""The migration's tests run against a real PostgreSQL (a throwaway cluster for the session: see
local/services/postgres.py). A machine without PostgreSQL's server binaries FAILS these tests: .ci/run
installs them; skipping would let a broken migration land."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from local.services import postgres
from tests.e2e.conftest import LocalService, own_keys, run_service
from tests.support import TokenMinter

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "legacy_schema.sql"
FIXTURE = HERE / "fixture.sql"
MIGRATION_SECONDS = 300


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    try:
        with postgres.cluster() as url:
            yield url
    except postgres.PostgresMissing as exc:
        pytest.fail(str(exc))


def new_database(server_url: str, *scripts: Path) -> str:
    """A fresh database with the old schema and `scripts` loaded; its URL."""
    name = f"legacy_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # a name we made
    url = postgres.database_url(server_url, name)
    with psycopg.connect(url, autocommit=True) as connection:
        for script in (SCHEMA, *scripts):
            connection.execute(script.read_text(encoding="utf-8"))  # our files
    return url


@pytest.fixture
def legacy_db(postgres_server: str) -> str:
    return new_database(postgres_server, FIXTURE)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None


def migrate(database_url: str, report: Path | None, **settings: str) -> Run:
    """`python -m migration` as `make migrate` runs it: settings in the environment."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(ROOT)),
        "LANG": "C.UTF-8",
        "PYTHONPATH": "layers/shared:functions:.",
        "DATABASE_URL": database_url,
        "MIGRATE_PROGRESS_SECONDS": "0.2",
        **({"REPORT": str(report)} if report else {}),
        **settings,
    }
    done = subprocess.run(
        [sys.executable, "-m", "migration"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=MIGRATION_SECONDS,
        check=False,
    )
    document = json.loads(report.read_text(encoding="utf-8")) if report and report.exists() else None
    return Run(done.returncode, done.stdout, done.stderr, document)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, jwks_file: Path) -> Iterator[LocalService]:
    """The local service as `make run` starts it, generator off (nothing but the migration writes)."""
    yield from run_service(
        tmp_path_factory.mktemp("migrate-service"), LOCAL_GENERATOR="off", **own_keys(jwks_file)
    )


@pytest.fixture(scope="module")
def minter(signing_key: Any) -> TokenMinter:
    return TokenMinter(signing_key, "test-key-1")
