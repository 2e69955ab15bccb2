"""`make migrate` from a real PostgreSQL into the local service (as `make run` starts it): every rule
of the contract checked in the tables and through the routes over HTTP, a rerun that changes nothing,
changes made by the service kept, a dry run that writes nothing."""

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import requests

from tests.e2e.conftest import API_ANSWER_SECONDS, LocalService
from tests.migration.conftest import migrate
from tests.support import TokenMinter

pytestmark = pytest.mark.e2e

U_A = "c76c36ee-838d-4ecb-94ed-37018032c9fd"
U_30 = "00000000-0000-4000-8000-000000000030"
U_31 = "00000000-0000-4000-8000-000000000031"
U_TIE = "00000000-0000-4000-8000-000000000040"
U_51 = "00000000-0000-4000-8000-000000000051"
U_52 = "00000000-0000-4000-8000-000000000052"
U_60 = "00000000-0000-4000-8000-000000000060"
U_70 = "00000000-0000-4000-8000-000000000070"
PROMPT = "Un phare breton au coucher du soleil 🌅 — éàü « 灯台 »"


def dynamodb(service: LocalService) -> Any:
    info = service.info()
    return boto3.client(
        "dynamodb",
        endpoint_url=info["aws_endpoint"],
        region_name=info["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def scan(service: LocalService) -> dict[str, list[dict[str, Any]]]:
    """Every item of both tables (raw DynamoDB JSON), sorted: a snapshot to compare."""
    client = dynamodb(service)
    tables = service.info()["tables"]
    snapshot = {}
    for variable in ("GENERATIONS_TABLE", "NOTIFICATIONS_TABLE"):
        items: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(TableName=tables[variable], ConsistentRead=True):
            items += page["Items"]
        snapshot[variable] = sorted(items, key=repr)
    return snapshot


def jobs(snapshot: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {item["job_id"]["S"]: item for item in snapshot["GENERATIONS_TABLE"]}


def get(service: LocalService, path: str, token: dict[str, str]) -> requests.Response:
    return requests.get(f"{service.base}{path}", headers=token, timeout=API_ANSWER_SECONDS)


def test_every_rule_in_the_tables_and_through_the_routes(
    service: LocalService, minter: TokenMinter, legacy_db: str, tmp_path: Path
) -> None:
    # Given the old database (tests/migration/fixture.sql) and an empty service
    assert scan(service) == {"GENERATIONS_TABLE": [], "NOTIFICATIONS_TABLE": []}
    port = service.env["PORT"]

    # When a dry run goes first: the same report, nothing written
    dry = migrate(legacy_db, tmp_path / "dry.json", PORT=port, DRY_RUN="1")
    assert dry.code == 0, dry.stderr
    assert scan(service) == {"GENERATIONS_TABLE": [], "NOTIFICATIONS_TABLE": []}

    # When the migration runs
    run = migrate(legacy_db, tmp_path / "report.json", PORT=port)
    assert run.code == 0, run.stderr
    report = run.report
    assert report is not None and report["complete"] is True
    counts = report["counts"]

    # Then the report counts every rule
    assert counts["rows.generations"] == 22
    assert (counts["rows.uuid_records"], counts["rows.frontend_records"]) == (8, 14)
    assert counts["jobs.as_was"] == 2
    assert counts["jobs.merged"] == 5 and counts["aliases"] == 5
    assert counts["merges.ties"] == 1
    assert counts["jobs.unattributed"] == 3
    assert counts["jobs.lost"] == 5
    assert counts["skipped.ImageGeneration"] == 2
    assert counts["skipped.ImageFile"] == 1
    assert counts["notifications.carried"] == 2 and counts["notifications.readdressed"] == 5
    assert counts["notifications.misdirected_dropped"] == 3
    assert counts["writes.created"] == 15 + 5 + 7
    dry_counts = dry.report["counts"] if dry.report else {}
    assert dry_counts["writes.would_write"] == counts["writes.created"]
    assert {k: v for k, v in dry_counts.items() if not k.startswith("writes.")} == {
        k: v for k, v in counts.items() if not k.startswith("writes.")
    }

    merges = {(m["uuid"], m["frontend_id"]): m for m in report["merges"]}
    assert set(merges) == {
        (U_A, "cm_merge_a"),
        (U_30, "cm_edge_30"),
        (U_51, "cm_close_near"),
        (U_52, "cm_close_far"),
        (U_70, "cm_nofiles"),
    }
    assert merges[(U_A, "cm_merge_a")]["author"] == "user_alice"
    assert merges[(U_A, "cm_merge_a")]["minutes_apart"] == 10
    assert merges[(U_30, "cm_edge_30")]["minutes_apart"] == 30  # the window's edge merges
    assert {u["id"]: u["reason"] for u in report["unattributed"]} == {
        U_31: "no front-end generation to merge with",  # 30 minutes and 1 ms: too far
        U_TIE: "a tie between candidates",
        U_60: "no front-end generation to merge with",  # another model
    }
    assert report["ties"] == [
        {"uuid": U_TIE, "candidates": ["cm_tie_1", "cm_tie_2"], "created_at": "2025-10-23T14:00:00Z"}
    ]
    assert {entry["id"] for entry in report["lost"]} == {
        "cm_edge_over",
        "cm_tie_1",
        "cm_tie_2",
        "cm_other_model",
        "cm_lost",
    }
    skipped = {(s["table"], s["id"]): s["reason"] for s in report["skipped"]}
    assert "no User row with a clerkId" in skipped[("ImageGeneration", "cm_noclerk")]
    assert "no User row with a clerkId" in skipped[("ImageGeneration", "cm_ghost")]
    assert "cm_vanished does not exist" in skipped[("ImageFile", "f_orphan")]
    assert (
        "SYSTEM" in skipped[("Notification", "n_system")]
        or "names no generation" in skipped[("Notification", "n_system")]
    )
    assert "cm_vanished" in skipped[("Notification", "n_orphan")]
    assert ("Notification", "n_noclerk") in skipped
    assert "cm_merge_a" in run.stdout and U_A in run.stdout and "user_alice" in run.stdout

    # Then the tables hold what the service itself would have written
    snapshot = scan(service)
    stored = jobs(snapshot)
    assert len(stored) == 15 + 5
    done = stored["cm_done_alice"]
    assert done["prompt"]["S"] == PROMPT
    assert (done["author_id"]["S"], done["organization_id"]["S"], done["status"]["S"]) == (
        "user_alice",
        "org_acme",
        "completed",
    )
    assert [f["M"]["k"]["S"] for f in done["files"]["L"]] == [
        "images/cm_done_alice/0.png",
        "images/cm_done_alice/1.jpeg",
    ]
    assert stored[U_A]["alias_of"]["S"] == "cm_merge_a"
    merged = stored["cm_merge_a"]
    assert (
        merged["author_id"]["S"] == "user_alice" and merged["prompt"]["S"] == "Un voilier — prompt d'origine"
    )
    assert [f["M"]["k"]["S"] for f in merged["files"]["L"]] == [f"images/{U_A}/0.png"]
    for unattributed in (U_31, U_TIE, U_60):
        assert "author_id" not in stored[unattributed]
        assert stored[unattributed]["source"]["S"] == "backend-direct"
    lost = stored["cm_lost"]
    assert (lost["status"]["S"], lost["error"]["S"], lost["progress"]["N"]) == (
        "failed",
        "did not complete in the old system",
        "40",
    )
    assert "in_flight" not in lost
    assert "cm_noclerk" not in stored and "cm_ghost" not in stored
    notifications = {(n["user_id"]["S"], n["generation_id"]["S"]): n for n in snapshot["NOTIFICATIONS_TABLE"]}
    assert set(notifications) == {
        ("user_alice", "cm_done_alice"),
        ("user_alice", "cm_merge_a"),
        ("user_alice", "cm_close_near"),
        ("user_bob", "cm_failed_bob"),
        ("user_bob", "cm_edge_30"),
        ("user_bob", "cm_close_far"),
        ("user_bob", "cm_nofiles"),
    }, "the first user keeps none; lost jobs notify nobody"

    # Then every rule is observable through the routes
    alice, bob = minter.auth("user_alice"), minter.auth("user_bob")
    first = minter.auth("user_first")
    acme_member = minter.auth("user_bob", org="org_acme")
    result = get(service, "/api/images/cm_done_alice/result", alice)
    assert result.status_code == 200
    body = result.json()
    assert (
        body["prompt"] == PROMPT
        and body["status"] == "completed"
        and body["model"] == "gemini-2.5-flash-image"
    )
    assert [(i["index"], i["width"], i["format"], i["size_bytes"]) for i in body["images"]] == [
        (0, 1024, "png", 1482013),
        (1, 1024, "jpeg", 990000),
    ]
    assert body["images"][0]["description"] == "Un phare breton 🌅"
    assert "X-Amz-Signature=" in body["images"][0]["url"]
    assert get(service, "/api/images/cm_done_alice/status", acme_member).status_code == 200, "organization"
    assert get(service, "/api/images/cm_done_alice/status", bob).status_code == 404
    failed = get(service, "/api/images/cm_failed_bob/status", bob).json()
    assert (failed["status"], failed["error"]) == ("failed", "Quota dépassé")

    # rule 3: by either id, the merged job answers its author, and nobody else
    for job_id in ("cm_merge_a", U_A):
        status = get(service, f"/api/images/{job_id}/status", alice)
        assert status.status_code == 200, job_id
        assert (status.json()["job_id"], status.json()["status"]) == ("cm_merge_a", "completed")
        assert get(service, f"/api/images/{job_id}/status", first).status_code == 404
    merged_result = get(service, f"/api/images/{U_A}/result", alice).json()
    assert merged_result["prompt"] == "Un voilier — prompt d'origine"
    assert [i["url"].split("?")[0].endswith(f"images/{U_A}/0.png") for i in merged_result["images"]] == [True]
    assert get(service, "/api/images/cm_nofiles/result", bob).json()["images"] == []
    assert get(service, "/api/images/cm_close_far/status", bob).json()["status"] == "failed"
    # rule 4: unattributed, visible to nobody (the first user included)
    for token in (first, alice, bob):
        assert get(service, f"/api/images/{U_31}/status", token).status_code == 404
    # rule 5
    lost_status = get(service, "/api/images/cm_lost/status", alice).json()
    assert (lost_status["status"], lost_status["error"]) == ("failed", "did not complete in the old system")

    # the library: each person's migrated jobs, newest first by their OLD created_at (then job id), no
    # alias and no unattributed job; the organization's jobs to its members
    for user, token in (("user_alice", alice), ("user_bob", bob)):
        own = [job for job in stored.values() if job.get("author_id", {}).get("S") == user]
        expected = sorted(own, key=lambda job: (job["created_at"]["S"], job["job_id"]["S"]), reverse=True)
        library = get(service, "/api/images?limit=100", token).json()
        assert [i["job_id"] for i in library["items"]] == [job["job_id"]["S"] for job in expected], user
        assert library["next_cursor"] is None
        for item, job in zip(library["items"], expected, strict=True):
            assert datetime.fromisoformat(item["created_at"]) == datetime.strptime(
                job["created_at"]["S"], "%Y-%m-%dT%H:%M:%S.%f%z"
            )
            assert item["source"] == "front-end" and item["author_id"] == user
    assert U_A not in {i["job_id"] for i in get(service, "/api/images?limit=100", alice).json()["items"]}
    acme = get(service, "/api/images?scope=organization&limit=100", acme_member).json()["items"]
    assert "cm_done_alice" in {i["job_id"] for i in acme}
    assert all(i["organization_id"] == "org_acme" for i in acme)
    assert get(service, "/api/images?limit=100", first).json() == {"items": [], "next_cursor": None}

    # notifications: read state kept, the merged job's one to its author, none to the first user
    page = get(service, "/api/notifications?limit=100", alice).json()
    by_job = {item["metadata"]["generation_id"]: item for item in page["items"]}
    assert set(by_job) == {"cm_done_alice", "cm_merge_a", "cm_close_near"}
    assert by_job["cm_done_alice"]["read"] is True
    assert by_job["cm_merge_a"]["read"] is True, "unread unless the old one was read"
    assert by_job["cm_close_near"]["read"] is False
    assert by_job["cm_done_alice"]["title"] == "🎨 Images générées avec succès"
    assert page["unread_count"] == 1
    assert get(service, "/api/notifications", first).json() == {
        "items": [],
        "next_cursor": None,
        "unread_count": 0,
    }
    bob_page = get(service, "/api/notifications?limit=100", bob).json()
    assert {i["metadata"]["generation_id"] for i in bob_page["items"]} == {
        "cm_failed_bob",
        "cm_edge_30",
        "cm_close_far",
        "cm_nofiles",
    }
    assert bob_page["unread_count"] == 4

    # When the migration runs again: nothing changes
    again = migrate(legacy_db, tmp_path / "again.json", PORT=port)
    assert again.code == 0, again.stderr
    assert again.report is not None
    assert again.report["counts"].get("writes.created", 0) == 0
    assert again.report["counts"]["writes.already_present"] == 27
    assert run.stdout.startswith(f"Migration report (complete; {counts['writes.created']} items written)")
    assert again.stdout.startswith(
        "Migration report (complete; nothing written: every item was already there)"
    )
    assert dry.stdout.startswith("Migration report (complete; DRY RUN, nothing written)")
    assert scan(service) == snapshot

    # When the service changes what was migrated (a notification read), a rerun keeps it as the service has it
    notification_id = by_job["cm_close_near"]["id"]
    read = requests.post(
        f"{service.base}/api/notifications/{notification_id}/read", headers=alice, timeout=API_ANSWER_SECONDS
    )
    assert read.status_code == 200
    changed = scan(service)
    third = migrate(legacy_db, tmp_path / "third.json", PORT=port)
    assert third.code == 0, third.stderr
    assert scan(service) == changed
    assert third.report is not None and third.report["counts"]["writes.kept_as_found"] == 1
    [kept] = third.report["kept_as_found"]
    assert kept["key"] == f"user_alice/{notification_id}"


def test_the_window_is_an_option(
    service: LocalService, postgres_server: str, legacy_db: str, tmp_path: Path
) -> None:
    # With a 31-minute window, the record 30 minutes and 1 ms after its candidate merges too (dry run)
    run = migrate(
        legacy_db, tmp_path / "r.json", PORT=service.env["PORT"], DRY_RUN="1", MERGE_WINDOW_MINUTES="31"
    )
    assert run.code == 0, run.stderr
    assert run.report is not None
    assert (U_31, "cm_edge_over") in {(m["uuid"], m["frontend_id"]) for m in run.report["merges"]}
    assert run.report["merge_window_minutes"] == 31


def test_bad_input_is_one_line_a_non_zero_exit_and_nothing_written(
    service: LocalService, legacy_db: str, postgres_server: str, tmp_path: Path
) -> None:
    before = scan(service)
    port = service.env["PORT"]
    broken = legacy_db.rsplit("/", 1)[0] + "/does_not_exist"
    cases = {
        "not a URL": ({"DATABASE_URL": "not a url at all"}, "DATABASE_URL"),
        "no database": ({"DATABASE_URL": broken}, "cannot connect"),
        "unreachable server": ({"DATABASE_URL": "postgresql://u:secret@127.0.0.1:1/x"}, "cannot connect"),
        "window": ({"MERGE_WINDOW_MINUTES": "-1"}, "MERGE_WINDOW_MINUTES"),
        "dry run": ({"DRY_RUN": "maybe"}, "DRY_RUN"),
        "target": ({"TARGET": "mars"}, "TARGET"),
        "aws without stack": ({"TARGET": "aws", "AWS_REGION": "eu-west-1"}, "STACK"),
        "a layer setting": ({"GENERATIONS_TABLE": "x"}, "GENERATIONS_TABLE"),
        "missing column": ({}, '"ImageFile"."s3Key"'),  # last: it breaks the database
    }
    for name, (settings, expected) in cases.items():
        if name == "missing column":
            with psycopg.connect(legacy_db, autocommit=True) as connection:
                connection.execute('ALTER TABLE "ImageFile" DROP COLUMN "s3Key"')
        report = tmp_path / f"{name.replace(' ', '_')}.json"
        run = migrate(legacy_db, report, PORT=port, **settings)
        assert run.code == 2, (name, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], (name, run.stderr)
        assert "Traceback" not in run.stderr and "secret" not in run.stderr
        assert not report.exists(), name
    assert scan(service) == before


def test_a_role_that_may_not_read_a_table_is_told_so_not_that_the_table_is_missing(
    service: LocalService, legacy_db: str, tmp_path: Path
) -> None:
    """psql says "permission denied"; information_schema hides what a role may not read, so the
    migration said "missing table"."""
    before = scan(service)
    role = f"reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(legacy_db, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')  # a name we made
        admin.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
        admin.execute(f'REVOKE SELECT ON "Notification" FROM "{role}"')  # noqa: S608
        admin.execute(f'REVOKE SELECT ON "ImageFile" FROM "{role}"')  # noqa: S608
        admin.execute(f'GRANT SELECT ("id", "generationId", "filename") ON "ImageFile" TO "{role}"')
    as_reader = legacy_db.replace("postgresql://postgres@", f"postgresql://{role}@")
    assert as_reader != legacy_db

    run = migrate(as_reader, tmp_path / "denied.json", PORT=service.env["PORT"])

    assert run.code == 2, run.stderr
    [line] = run.stderr.strip().splitlines()
    assert line.startswith(f'migrate: permission denied: the role "{role}" may not read ')
    assert 'table "Notification"' in line
    assert 'column "ImageFile"."s3Key"' in line and 'column "ImageFile"."id"' not in line
    assert "missing" not in line and "GRANT SELECT" in line
    assert not (tmp_path / "denied.json").exists()
    assert scan(service) == before


def test_a_role_that_may_not_use_the_schema_is_told_so_not_that_the_tables_are_missing(
    service: LocalService, legacy_db: str, tmp_path: Path
) -> None:
    role = f"outsider_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(legacy_db, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')  # a name we made
        admin.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
        admin.execute("REVOKE USAGE ON SCHEMA public FROM PUBLIC")  # this test's own database
    as_outsider = legacy_db.replace("postgresql://postgres@", f"postgresql://{role}@")

    run = migrate(as_outsider, tmp_path / "outside.json", PORT=service.env["PORT"])

    assert run.code == 2, run.stderr
    [line] = run.stderr.strip().splitlines()
    assert line == (
        f'migrate: permission denied: the role "{role}" may not use schema "public", which holds the '
        f'tables (GRANT USAGE ON SCHEMA "public" TO "{role}")'
    )
    assert not (tmp_path / "outside.json").exists()


def test_an_unreachable_target_or_a_missing_table(
    service: LocalService, legacy_db: str, tmp_path: Path
) -> None:
    before = scan(service)
    with_nothing = migrate(legacy_db, tmp_path / "a.json", PORT="1")
    assert with_nothing.code == 2 and "no local service answers" in with_nothing.stderr
    info = service.info()
    missing = migrate(
        legacy_db,
        tmp_path / "b.json",
        TARGET="aws",
        GENERATIONS_TABLE="no-such-table",
        NOTIFICATIONS_TABLE=info["tables"]["NOTIFICATIONS_TABLE"],
        AWS_ENDPOINT_URL_DYNAMODB=info["aws_endpoint"],
        AWS_REGION=info["region"],
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
    )
    assert missing.code == 2, missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and "no-such-table" in missing.stderr
    assert scan(service) == before


def test_the_schema_copy_is_the_contracts() -> None:
    """tests/migration/legacy_schema.sql is shared/legacy/schema.sql (when shared/ is beside the repo)."""
    from tests.migration.conftest import ROOT, SCHEMA

    original = ROOT.parent / "shared" / "legacy" / "schema.sql"
    if original.exists():
        copy = SCHEMA.read_text(encoding="utf-8").split("\n", 1)[1]
        assert copy == original.read_text(encoding="utf-8")


def test_verify_files_lists_the_keys_missing_from_the_bucket(
    service: LocalService, legacy_db: str, tmp_path: Path
) -> None:
    # Given the service's bucket holding one of the old keys only
    info = service.info()
    s3 = boto3.client(
        "s3",
        endpoint_url=info["aws_endpoint"],
        region_name=info["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    s3.put_object(Bucket=info["media_bucket"], Key="images/cm_done_alice/0.png", Body=b"png")

    # When the migration checks the files (a dry run: HEAD requests only)
    run = migrate(legacy_db, tmp_path / "files.json", PORT=service.env["PORT"], DRY_RUN="1", VERIFY_FILES="1")

    # Then every other key of a migrated job is reported missing, with its job
    assert run.code == 0, run.stderr
    assert run.report is not None
    assert run.report["counts"]["files.checked"] == 7
    missing = {(entry["job_id"], entry["key"]) for entry in run.report["missing_files"]}
    assert missing == {
        ("cm_done_alice", "images/cm_done_alice/1.jpeg"),
        ("cm_merge_a", f"images/{U_A}/0.png"),
        ("cm_edge_30", f"images/{U_30}/0.webp"),
        (U_31, f"images/{U_31}/0.png"),
        (U_31, f"images/{U_31}/1.png"),
        ("cm_close_near", f"images/{U_51}/0.png"),
    }
    assert "images/cm_done_alice/1.jpeg" in run.stdout
