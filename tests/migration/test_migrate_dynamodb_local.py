"""The migration into AWS's DynamoDB Local (TARGET=aws with named tables and the standard endpoint
variable): the same outcome as into the local service, and a run killed with SIGKILL halfway then run
again ends exactly as one uninterrupted run: nothing lost, nothing doubled."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

from bench import legacy_data
from deploy.base.cfn_template import create_tables
from local.services import dynamodb_local
from tests.migration.conftest import ROOT, migrate, new_database

CRASH_ROWS = 2000


@pytest.fixture(scope="module")
def dynamodb_endpoint() -> Iterator[str]:
    try:
        dynamodb_local.tools()
    except dynamodb_local.DynamoDBLocalError as exc:
        pytest.fail(str(exc))  # CI must run these: a missing Java or npm is a failure
    with dynamodb_local.running() as endpoint:
        yield endpoint


def client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def fresh_tables(endpoint: str) -> dict[str, str]:
    """New tables from template.yaml; the settings that name them to the migration."""
    suffix = uuid.uuid4().hex[:8]
    names = {"GenerationsTable": f"generations-{suffix}", "NotificationsTable": f"notifications-{suffix}"}
    create_tables(client(endpoint), names)
    return {
        "TARGET": "aws",
        "GENERATIONS_TABLE": names["GenerationsTable"],
        "NOTIFICATIONS_TABLE": names["NotificationsTable"],
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }


def snapshot(endpoint: str, settings: dict[str, str]) -> dict[str, list[str]]:
    """Every item, less the table names: comparable between two sets of tables."""
    found = {}
    for variable in ("GENERATIONS_TABLE", "NOTIFICATIONS_TABLE"):
        items = []
        for page in client(endpoint).get_paginator("scan").paginate(TableName=settings[variable]):
            items += [repr(sorted(item.items())) for item in page["Items"]]
        found[variable] = sorted(items)
    return found


def count_items(endpoint: str, table: str) -> int:
    total = 0
    for page in client(endpoint).get_paginator("scan").paginate(TableName=table, Select="COUNT"):
        total += page["Count"]
    return total


def start_and_signal(url: str, settings: dict[str, str], report: Path, sig: int, after_jobs: int) -> int:
    """Start the migration, send `sig` once `after_jobs` jobs are in the table; its exit status."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(ROOT)),
        "PYTHONPATH": "layers/shared:functions:.",
        "DATABASE_URL": url,
        "REPORT": str(report),
        "MIGRATE_WORKERS": "2",
        **settings,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "migration"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120  # the first writes: seconds; a start of `migrate` is about 2 s quiet
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if (
                count_items(settings["AWS_ENDPOINT_URL_DYNAMODB"], settings["GENERATIONS_TABLE"])
                >= after_jobs
            ):
                break
            time.sleep(0.05)
        assert process.poll() is None, "the migration finished before the signal: make it bigger"
        process.send_signal(sig)
        return process.wait(60)
    finally:
        process.kill()
        process.wait()


def test_the_fixture_migrates_into_dynamodb_local_as_into_the_local_service(
    dynamodb_endpoint: str, legacy_db: str, tmp_path: Path
) -> None:
    settings = fresh_tables(dynamodb_endpoint)
    run = migrate(legacy_db, tmp_path / "report.json", **settings)
    assert run.code == 0, run.stderr
    assert run.report is not None and run.report["complete"] is True
    counts = run.report["counts"]
    rules = ("jobs.as_was", "jobs.merged", "jobs.unattributed", "jobs.lost")
    assert [counts[rule] for rule in rules] == [2, 5, 3, 5]
    assert counts["writes.created"] == 27
    # one conditional PutItem per item, no other request while migrating
    assert run.report["requests"]["dynamodb"] == {"PutItem": 27}
    first = snapshot(dynamodb_endpoint, settings)

    again = migrate(legacy_db, tmp_path / "again.json", **settings)
    assert again.code == 0, again.stderr
    assert again.report is not None and again.report["counts"]["writes.already_present"] == 27
    assert snapshot(dynamodb_endpoint, settings) == first


def test_killed_halfway_then_run_again_nothing_lost_or_doubled(
    dynamodb_endpoint: str, postgres_server: str, tmp_path: Path
) -> None:
    # Given a synthetic old database of 2,000 generations (600 double entries)
    url = new_database(postgres_server)
    with psycopg.connect(url, autocommit=True) as connection:
        shape = legacy_data.fill(connection, CRASH_ROWS)

    # And the outcome of one uninterrupted run, in tables of its own
    reference = fresh_tables(dynamodb_endpoint)
    clean = migrate(url, tmp_path / "clean.json", **reference)
    assert clean.code == 0, clean.stderr
    assert clean.report is not None and clean.report["counts"]["writes.created"] == shape.items

    # When a run into other tables is stopped with SIGTERM once it has written some of its items,
    # then another is killed with SIGKILL further on
    settings = fresh_tables(dynamodb_endpoint)
    stopped = start_and_signal(url, settings, tmp_path / "stopped.json", signal.SIGTERM, shape.jobs // 8)
    assert stopped == 130
    report = json.loads((tmp_path / "stopped.json").read_text(encoding="utf-8"))
    assert report["complete"] is False and "interrupted" in report["error"]
    killed = start_and_signal(url, settings, tmp_path / "killed.json", signal.SIGKILL, shape.jobs // 3)
    assert killed == -signal.SIGKILL
    partial = snapshot(dynamodb_endpoint, settings)
    stored = len(partial["GENERATIONS_TABLE"]) + len(partial["NOTIFICATIONS_TABLE"])
    assert 0 < stored < shape.items, "killed halfway"
    assert not (tmp_path / "killed.json").exists()

    # Then running it again finishes the work: exactly the uninterrupted run's items
    rerun = migrate(url, tmp_path / "rerun.json", **settings)
    assert rerun.code == 0, rerun.stderr
    assert rerun.report is not None
    counts = rerun.report["counts"]
    assert counts["writes.created"] + counts["writes.already_present"] == shape.items
    assert counts["writes.already_present"] == stored
    assert counts.get("writes.kept_as_found", 0) == 0
    assert snapshot(dynamodb_endpoint, settings) == snapshot(dynamodb_endpoint, reference)
    # nothing doubled: one notification per job, one item per job id
    per_job = Counter(
        item["generation_id"]["S"]
        for page in client(dynamodb_endpoint)
        .get_paginator("scan")
        .paginate(TableName=settings["NOTIFICATIONS_TABLE"])
        for item in page["Items"]
    )
    assert set(per_job.values()) == {1} and len(per_job) == shape.jobs
