"""Erasing a person with 1,000 jobs and 4,000 files (issue 22), measured side by side in one run:

- **batched** (what the erasure worker does): the person's jobs a page of 100 at a time from the
  per-author index, each page's files removed together (ListObjectsV2 per job folder, 8 in parallel;
  DeleteObjects 1,000 keys a request), then each job made a tombstone by the library's delete;
- **job by job** (the library's delete applied to each job, as DELETE /api/images/{id} does): each job
  deleted with its own file removal message, which the remove_files worker handles one job at a time.

Each runs in a fresh worker process (its peak memory is that process's maximum RSS) over HTTP against
AWS's DynamoDB Local and moto's server (S3, SQS), with the same seeded world: the person's 1,000 jobs
(4 files each, in two organizations, 1,000 notifications, 10 jobs in flight) and a bystander's 100
jobs. Then a worker killed
halfway (SIGKILL after 500 jobs) and run again: it finishes, and the bystander keeps everything.

    .venv/bin/python -m bench.erasure [--jobs 1000] [--files-per-job 4] [--doc]
    .venv/bin/python -m bench.erasure --quick     # 20 jobs (make bench-quick)

Prints the figures docs/performance.md ("Erasure") quotes. Request counts are exact (botocore's
requests, retries included); seconds are those of the stand-ins on this machine, not AWS's.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.doc import shown, stamp, write_section

ROOT = Path(__file__).resolve().parent.parent
PERSON, BYSTANDER = "user_2benchErased", "user_2benchBystander"
TABLES = {
    "GENERATIONS_TABLE": "bench-erasure-generations",
    "NOTIFICATIONS_TABLE": "bench-erasure-notifications",
    "JOBS_IN_FLIGHT_TABLE": "bench-erasure-jobs-in-flight",
    "ERASED_PEOPLE_TABLE": "bench-erasure-erased-people",
}
BUCKET = "bench-erasure-media"
START = "<!-- erasure-benchmark:start (written by python -m bench.erasure --doc) -->"
END = "<!-- erasure-benchmark:end -->"


def environment(endpoint: str, dynamodb: str) -> dict[str, str]:
    from local.harness.environment import FAKE_CREDENTIALS

    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **FAKE_CREDENTIALS,
        **TABLES,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb,
        "MEDIA_BUCKET": BUCKET,
        # moto's queue URLs: the endpoint, its account, the name (create_queues' prefix "bench-").
        "ERASURE_QUEUE_URL": f"{endpoint}/123456789012/bench-ErasureQueue",
        "FILE_REMOVAL_QUEUE_URL": f"{endpoint}/123456789012/bench-FileRemovalQueue",
        "ERASURE_HASH_KEY": "bench-erasure-hash-key-0123456789abcdefghijklmnop",
        "ERASURE_FINAL_PASS_DELAY_SECONDS": "0",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "MediagenBench",
        "POWERTOOLS_SERVICE_NAME": "mediagen",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "PYTHONPATH": "layers/shared:functions:.",
    }


# --- The world ------------------------------------------------------------------------------------


def seed(jobs: int, files_per_job: int, bystander_jobs: int = 100) -> dict[str, int]:
    """The person's jobs (half in each of two organizations, the last 10 queued and in flight), their
    files and notifications; the bystander's 100 jobs and files. Written directly (BatchWriteItem,
    PutObject in threads): the bench measures the erasure, not the making."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    from deploy.base.cfn_template import TABLE_ENV, create_queues, create_tables
    from mediagen.data.library_index import with_library_keys
    from mediagen.data.models import (
        GeneratedFile,
        Generation,
        Notification,
        UserJobsInFlight,
        in_flight_shard,
    )
    from mediagen.data.notifications import notification_id

    create_tables(boto3.client("dynamodb"), {logical: os.environ[var] for logical, var in TABLE_ENV.items()})
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    queues = create_queues(boto3.client("sqs"), prefix="bench-")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    keys: list[str] = []
    in_flight: set[str] = set()
    with Generation.batch_write() as generations, Notification.batch_write() as notifications:
        for owner, count in ((PERSON, jobs), (BYSTANDER, bystander_jobs)):
            for index in range(count):
                job_id = f"job_{owner[-8:]}_{index:05d}"
                created = start + timedelta(seconds=index)
                queued = owner == PERSON and index >= count - 10
                files = [f"images/{job_id}/{n}.png" for n in range(files_per_job)]
                job = Generation(
                    job_id=job_id,
                    kind="image",
                    author_id=owner,
                    organization_id="org_2benchA" if index % 2 else "org_2benchB",
                    prompt="Un phare breton au coucher du soleil",
                    status="queued" if queued else "completed",
                    progress=0 if queued else 100,
                    source="api",
                    created_at=created,
                    updated_at=created,
                    completed_at=None if queued else created,
                    in_flight=in_flight_shard(job_id) if queued else None,
                    files=None
                    if queued
                    else [
                        GeneratedFile(
                            s3_key=k, size_bytes=1, format="png", width=1, height=1, aspect_ratio="1x1"
                        )
                        for k in files
                    ],
                )
                generations.save(with_library_keys(job))
                if queued:
                    in_flight.add(job_id)
                else:
                    keys += files
                    notifications.save(
                        Notification(
                            user_id=owner,
                            notification_id=notification_id(created, job_id),
                            type="IMAGE_COMPLETED",
                            title="t",
                            message="m",
                            read=True,
                            created_at=created,
                            generation_id=job_id,
                            source="api",
                        )
                    )
    UserJobsInFlight(PERSON, job_ids=in_flight).save()
    s3 = boto3.client("s3")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=BUCKET, Key=key, Body=b"x"), keys))
    return {"files": len(keys), "queues": len(queues)}


def leftovers() -> dict[str, int]:
    """What the scan finds: items and objects of the person (anything naming them, or a job of theirs
    that is not an `erased` tombstone), and the bystander's jobs and files still there."""
    import boto3

    client, found = boto3.client("dynamodb"), Counter[str]()
    for variable, table in TABLES.items():
        for page in client.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                text = json.dumps(item)
                job = item.get("job_id", {}).get("S", "")
                if PERSON in text or (PERSON[-8:] in job and item.get("status", {}).get("S") != "erased"):
                    found[f"person items ({variable})"] += 1
                if BYSTANDER in text and variable == "GENERATIONS_TABLE":
                    found["bystander jobs"] += 1
    for listed in boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for entry in listed.get("Contents", []):
            found["person files" if PERSON[-8:] in entry["Key"] else "bystander files"] += 1
    return dict(found)


# --- One worker process ---------------------------------------------------------------------------


def worker(mode: str, kill_after: int) -> None:
    """In a fresh process: erase the person (`batched`: the erasure worker's passes until done;
    `job_by_job`: the library's delete per job, then the file removal worker per message). Prints one
    JSON line: seconds, requests by service and operation, peak RSS."""
    import boto3
    import botocore.endpoint

    requests: Counter[str] = Counter()
    original = botocore.endpoint.Endpoint._do_get_response  # type: ignore[attr-defined]

    def counted(self: Any, request: Any, operation_model: Any, context: Any) -> Any:
        requests[f"{operation_model.service_model.service_name}.{operation_model.name}"] += 1
        return original(self, request, operation_model, context)

    botocore.endpoint.Endpoint._do_get_response = counted  # type: ignore[attr-defined]
    from local.harness.sources import SqsEventSource
    from mediagen.contract.payloads import ErasureMessage
    from mediagen.data.library_index import authored_jobs_page
    from mediagen.rules import erasure, library

    if kill_after:
        original_delete, deleted = library.delete_job, [0]

        def dies(job_id: str, **options: Any) -> Any:
            deleted[0] += 1
            if deleted[0] > kill_after:
                os.kill(os.getpid(), 9)  # SIGKILL: no cleanup, as a timed-out or lost sandbox
            return original_delete(job_id, **options)

        library.delete_job = dies
    started = time.perf_counter()
    if mode == "batched":
        erasure.request_erasure(PERSON)
        report = erasure.erasure_pass(ErasureMessage(user_id=PERSON))
        while not report.done:
            report = erasure.erasure_pass(ErasureMessage(user_id=PERSON, final_pass=report.complete))
    else:
        from deploy.base.lambda_events import LambdaContext
        from remove_files.app import lambda_handler as remove_files

        start = None
        while True:
            page = authored_jobs_page(PERSON, start, 100)
            for job in page.jobs:
                library.delete_job(job.job_id, erased_key=erasure.erased_job_key)
            start = page.next_start
            if start is None:
                break
        sqs = boto3.client("sqs")
        url = sqs.get_queue_url(QueueName="bench-FileRemovalQueue")["QueueUrl"]
        SqsEventSource(sqs, url, lambda event: remove_files(event, LambdaContext())).drain(10_000)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "requests": requests, "peak_mib": peak_kib / 1024}))


def run_worker(env: dict[str, str], mode: str, kill_after: int = 0) -> dict[str, Any] | None:
    command = [sys.executable, "-m", "bench.erasure", "--worker", mode, "--kill-after", str(kill_after)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode == -9:
        return None  # killed halfway, as asked
    if done.returncode != 0:
        raise RuntimeError(f"{mode} worker failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def summary(label: str, result: dict[str, Any]) -> dict[str, Any]:
    requests: dict[str, int] = result["requests"]
    by_service = Counter[str]()
    for name, count in requests.items():
        by_service[name.split(".")[0]] += count
    return {
        "flow": label,
        "seconds": round(result["seconds"], 2),
        "dynamodb": by_service["dynamodb"],
        "s3": by_service["s3"],
        "sqs": by_service["sqs"],
        "s3 DeleteObjects": requests.get("s3.DeleteObjects", 0),
        "s3 ListObjectsV2": requests.get("s3.ListObjectsV2", 0),
        "peak MiB": round(result["peak_mib"], 1),
        "detail": dict(sorted(requests.items())),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--files-per-job", type=int, default=4)
    parser.add_argument("--worker", choices=["batched", "job_by_job"])
    parser.add_argument("--kill-after", type=int, default=0)
    parser.add_argument("--bystander-jobs", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="20 jobs, 10 of the bystander's")
    parser.add_argument("--doc", action="store_true", help="write its section of docs/performance.md")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.bystander_jobs = 20, 10
    if args.worker:
        worker(args.worker, args.kill_after)
        return 0
    import contextlib
    import logging

    from moto.server import ThreadedMotoServer

    from local.services import dynamodb_local

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    rows, checks = [], {}
    load_before = os.getloadavg()[0]
    for mode in ("batched", "job_by_job", "killed_then_retried"):
        # S3 and SQS: moto's server; DynamoDB: AWS's DynamoDB Local (moto's scans every item of a table
        # for each index query and transaction: 1,100 jobs made it the bench's bottleneck, not ours).
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        stack = contextlib.ExitStack()
        dynamodb = stack.enter_context(dynamodb_local.running())
        env = environment(f"http://{host}:{port}", dynamodb)
        os.environ.update(env)
        seeded = _seed_in_child(env, args.jobs, args.files_per_job, args.bystander_jobs)
        print(f"{mode}: seeded {args.jobs} jobs, {seeded['files']} files", file=sys.stderr)
        if mode == "killed_then_retried":
            assert run_worker(env, "batched", kill_after=args.jobs // 2) is None, "the worker was not killed"
            checks["after the kill"] = _scan_in_child(env)
            result = run_worker(env, "batched")
        else:
            result = run_worker(env, mode)
        assert result is not None
        rows.append(summary(mode, result))
        checks[mode] = _scan_in_child(env)
        stack.close()
        server.stop()
    print(
        json.dumps(
            {"jobs": args.jobs, "files_per_job": args.files_per_job, "rows": rows, "scans": checks}, indent=2
        )
    )
    batched, per_job = rows[0], rows[1]
    ratios = (
        f"S3 requests {per_job['s3'] / max(1, batched['s3']):.1f}x, "
        f"DeleteObjects {per_job['s3 DeleteObjects'] / max(1, batched['s3 DeleteObjects']):.0f}x, "
        f"SQS requests {per_job['sqs'] / max(1, batched['sqs']):.0f}x, "
        f"seconds {per_job['seconds'] / batched['seconds']:.1f}x"
    )
    print(f"\nratios job by job / batched: {ratios}")
    left = {mode: found for mode, found in checks.items() if mode != "after the kill"}
    # The erasure worker leaves nothing of the person; a series of deletes leaves their entry of jobs in
    # flight (shown in the section, not an error of the bench).
    erased = all(
        not any(k.startswith("person") for k in left[mode]) for mode in ("batched", "killed_then_retried")
    )
    kept = all(
        found.get("bystander jobs") == args.bystander_jobs
        and found.get("bystander files") == args.bystander_jobs * args.files_per_job
        for found in left.values()
    )
    if not (erased and kept):
        raise SystemExit(f"an erasure left the person's data or took the bystander's: {left}")
    if args.doc:
        command = " ".join([".venv/bin/python -m bench.erasure", *sys.argv[1:]])
        context = (
            f"{stamp()}, {os.cpu_count()} CPUs, load average {load_before:.1f} before and "
            f"{os.getloadavg()[0]:.1f} after"
        )
        section = render(command, context, args, rows, checks, ratios)
        print(f"Wrote {shown(write_section(START, END, section))}", file=sys.stderr)
    return 0


def render(
    command: str,
    context: str,
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    checks: dict[str, dict[str, int]],
    ratios: str,
) -> str:
    after_kill = checks["after the kill"]
    per_job_left = {k: v for k, v in checks["job_by_job"].items() if k.startswith("person")}
    labels = {
        "batched": "**batched** (the erasure worker)",
        "job_by_job": "job by job (the library's delete per job + its file removal worker)",
        "killed_then_retried": f"killed after {args.jobs // 2} jobs (SIGKILL), then run again: the rerun",
    }
    table_rows = [
        f"| {labels[row['flow']]} | {row['seconds']:.1f} | {row['dynamodb']:,} | {row['s3']:,} | "
        f"{row['s3 DeleteObjects']:,} | {row['sqs']:,} | {row['peak MiB']:.0f} MiB |"
        for row in rows
    ]
    files = args.jobs * args.files_per_job
    return "\n".join(
        [
            START,
            f"## 7. Erasing a person: {args.jobs:,} jobs and {files:,} files (issue 22)",
            "",
            f"`{command}` (`bench/erasure.py` says how it measures), {context}. The person: "
            f"{args.jobs:,} jobs in two organizations (the last 10 queued and in flight, the others "
            f"finished with {args.files_per_job} files each), a notification per finished job; beside them "
            f"a bystander with {args.bystander_jobs:,} jobs. Each flow in a fresh worker process, over "
            "HTTP, against AWS's DynamoDB Local (DynamoDB) and moto's server (S3, SQS). Request counts are "
            "exact (botocore's requests, retries included); seconds are the stand-ins', on this machine, "
            "not AWS's.",
            "",
            "| flow | seconds | DynamoDB requests | S3 requests | of which DeleteObjects | SQS requests "
            "| worker peak RSS |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            *table_rows,
            "",
            f"Ratios, job by job / batched, measured side by side in the run: {ratios}. After the kill the "
            f"scan found {after_kill.get('person files', 0):,} files and "
            f"{sum(v for k, v in after_kill.items() if k.startswith('person items')):,} items of the person "
            "left; after the erasure worker's runs it found none, and after every flow all of the "
            "bystander's jobs and files. Job by job left of the person: "
            + (", ".join(f"{k} {v}" for k, v in per_job_left.items()) or "nothing")
            + " (the library's delete does not remove a person's entry of jobs in flight; the erasure does).",
            END,
        ]
    )


def _seed_in_child(env: dict[str, str], jobs: int, files_per_job: int, bystander_jobs: int) -> dict[str, int]:
    code = (
        "import json; from bench.erasure import seed; "
        f"print(json.dumps(seed({jobs}, {files_per_job}, {bystander_jobs})))"
    )
    done = subprocess.run(  # noqa: S603 - our own code
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    seeded: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return seeded


def _scan_in_child(env: dict[str, str]) -> dict[str, int]:
    code = "import json; from bench.erasure import leftovers; print(json.dumps(leftovers()))"
    done = subprocess.run(  # noqa: S603 - our own code
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    found: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


if __name__ == "__main__":
    sys.exit(main())
