"""`make erase USER=<clerk id> [DRY_RUN=1] [TARGET=aws STACK=name] [REPORT=path]`: an operator erases a
person, as Clerk's `user.deleted` does (docs/runbook.md, "Erasing a person by hand").

It records the person's keyed hash first (from then on nothing can give them a job), then runs the
erasure's passes in this process until a final pass finds nothing left, and prints a report (jobs,
jobs in flight, aliases, files, notifications removed) that it also writes as JSON (REPORT=path, else
.local/erasures/erasure-<hash>.json). DRY_RUN=1 counts
the same and writes nothing. Run again, it finds nothing more and changes nothing.

Targets: the local service (`make run` on PORT, through its /_local/info) or a deployed stack (its
outputs name the tables, the bucket and the hash key's secret; the usual AWS credentials).
"""

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Where a report goes without REPORT=path (relative to where make runs: the repository).
REPORTS = Path(".local") / "erasures"
EXIT_BAD_INPUT = 2
EXIT_TARGET = 3
CLERK_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# The final pass waits this long after the first: the per-author index shows a job written meanwhile.
FINAL_PASS_WAIT_SECONDS = 2.0
STACK_OUTPUTS = {
    "GENERATIONS_TABLE": "GenerationsTableName",
    "NOTIFICATIONS_TABLE": "NotificationsTableName",
    "JOBS_IN_FLIGHT_TABLE": "JobsInFlightTableName",
    "ERASED_PEOPLE_TABLE": "ErasedPeopleTableName",
    "MEDIA_BUCKET": "MediaBucketName",
    "ERASURE_HASH_KEY_ARN": "ErasureHashKeyArn",
}


class TargetError(Exception):
    """The target cannot be used: one line for the operator."""


@dataclass(frozen=True)
class Settings:
    user_id: str
    dry_run: bool
    target: str
    stack: str
    port: int
    report: Path | None


def parse(argv: list[str], env: dict[str, str]) -> Settings:
    parser = argparse.ArgumentParser(prog="make erase", description=__doc__.split("\n\n")[0])
    parser.add_argument("--user", default=env.get("ERASE_USER", ""))
    parser.add_argument("--dry-run", action="store_true", default=env.get("DRY_RUN", "") in ("1", "true"))
    parser.add_argument("--target", default=env.get("TARGET", "") or "local")
    parser.add_argument("--stack", default=env.get("STACK", ""))
    parser.add_argument("--report", default=env.get("REPORT", ""))
    args = parser.parse_args(argv)
    user = args.user.strip()
    if not user:
        raise ValueError("USER=<clerk user id> is required (make erase USER=user_2abc...)")
    if not CLERK_ID.fullmatch(user):
        raise ValueError("USER must be a Clerk user id (letters, digits, _ and -; 128 at most)")
    if args.target not in ("local", "aws"):
        raise ValueError(f"TARGET must be local or aws, not {args.target!r}")
    if args.target == "aws" and not args.stack:
        raise ValueError("TARGET=aws needs STACK=<stack name>")
    port_text = env.get("PORT", "") or "3000"
    if not port_text.isdigit():
        raise ValueError(f"PORT must be a number, not {port_text!r}")
    return Settings(
        user_id=user,
        dry_run=args.dry_run,
        target=args.target,
        stack=args.stack,
        port=int(port_text),
        report=Path(args.report) if args.report else None,
    )


def local_environment(port: int) -> tuple[str, dict[str, str]]:
    """The local service's embedded AWS and table names (its /_local/info), and its hash key (.local/)."""
    url = f"http://127.0.0.1:{port}/_local/info"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            info = json.loads(answer.read())
        tables, endpoint = info["tables"], str(info["aws_endpoint"])
        dynamodb = str(info.get("dynamodb_endpoint") or endpoint)
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
        raise TargetError(
            f"no local service answers at {url} ({getattr(exc, 'reason', exc)}): start it with `make run`"
        ) from None
    from deploy.base import devkeys

    environment = {
        **{name: str(value) for name, value in tables.items() if value},
        "MEDIA_BUCKET": str(info.get("media_bucket") or ""),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": str(info.get("region") or "us-east-1"),
        "ERASURE_HASH_KEY": os.environ.get("ERASURE_HASH_KEY") or devkeys.dev_erasure_hash_key(),
    }
    return f"local service on port {port}", environment


def stack_environment(stack: str) -> tuple[str, dict[str, str]]:
    """A deployed stack's tables, bucket and hash key (its outputs), with the usual AWS credentials."""
    import boto3
    import botocore.exceptions

    session = boto3.Session(region_name=os.environ.get("AWS_REGION") or None)
    if not session.region_name:
        raise TargetError("no AWS region: set AWS_REGION (or a profile with a region)")
    try:
        described = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except botocore.exceptions.NoCredentialsError:
        raise TargetError("no AWS credentials (the usual chain: environment, profile, SSO, role)") from None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise TargetError(f"cannot read stack {stack!r} in {session.region_name}: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    missing = [name for name in STACK_OUTPUTS.values() if name not in outputs]
    if missing:
        raise TargetError(f"stack {stack!r} has no output {', '.join(missing)}: deploy the current template")
    environment = {variable: outputs[output] for variable, output in STACK_OUTPUTS.items()}
    environment["AWS_DEFAULT_REGION"] = session.region_name
    return f"stack {stack} in {session.region_name}", environment


def run(settings: Settings) -> int:
    try:
        if settings.target == "local":
            description, environment = local_environment(settings.port)
        else:
            description, environment = stack_environment(settings.stack)
    except TargetError as exc:
        print(f"erase: {exc}", file=sys.stderr)
        return EXIT_TARGET
    if settings.target == "local":
        os.environ.pop("AWS_PROFILE", None)  # the embedded AWS takes any key; never a real profile's
    os.environ.update(environment)  # before the models are imported: they read their table names
    from mediagen.data import erased_people
    from mediagen.rules import erasure

    plain_logs()

    started = time.monotonic()
    hashed = erasure.person_hash(settings.user_id)
    try:
        if settings.dry_run:
            reports = [erasure.erase_person(settings.user_id, dry_run=True)]
        else:
            erased_people.record_request(hashed, _now())
            reports = [erasure.erase_person(settings.user_id)]
            while not reports[-1].complete:
                reports.append(erasure.erase_person(settings.user_id))
            time.sleep(FINAL_PASS_WAIT_SECONDS)
            reports.append(erasure.erase_person(settings.user_id, final_pass=True))
            while not reports[-1].done:
                reports.append(erasure.erase_person(settings.user_id, final_pass=True))
    except Exception as exc:  # an unreachable table or bucket: one line, and run it again
        print(f"erase: {description}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_TARGET
    summary: dict[str, Any] = {
        "target": description,
        "dry_run": settings.dry_run,
        "person_hash": hashed,
        "passes": len(reports),
        "seconds": round(time.monotonic() - started, 3),
        **{
            name: sum(int(getattr(report, name)) for report in reports)
            for name in ("jobs", "jobs_in_flight", "aliases", "files", "notifications")
        },
    }
    if settings.dry_run:
        summary["job_ids"] = reports[0].job_ids
    print_report(summary)
    path = settings.report or default_report(hashed, settings.dry_run)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"report written to {path}")
    return 0


def default_report(hashed: str, dry_run: bool) -> Path:
    """Beside the local service's own state, never loose in the repository: .local/ is git-ignored,
    and the file names a person's hash (docs/runbook.md)."""
    return REPORTS / f"erasure-{hashed[:12]}{'-dry-run' if dry_run else ''}.json"


def plain_logs() -> None:
    """The service's logger writes one JSON object a line, for CloudWatch; in an operator's terminal the
    report says what was done, so only warnings and errors are shown, as plain lines."""
    import logging

    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    from mediagen.core.observability import logger

    class Plain(LambdaPowertoolsFormatter):
        def format(self, record: logging.LogRecord) -> str:
            return f"erase: {record.levelname.lower()}: {record.getMessage()}"

    logger.setLevel(logging.WARNING)
    logger.registered_handler.setFormatter(Plain())


def print_report(summary: dict[str, Any]) -> None:
    verb = "would remove" if summary["dry_run"] else "removed"
    print(f"Erasure on {summary['target']}{' (dry run: nothing written)' if summary['dry_run'] else ''}")
    print(f"  person hash:    {summary['person_hash']}")
    print(f"  jobs {verb}:  {summary['jobs']} (in flight, canceled: {summary['jobs_in_flight']})")
    print(f"  aliases:        {summary['aliases']}")
    print(f"  files {verb}: {summary['files']}")
    print(f"  notifications {verb}: {summary['notifications']}")
    print(f"  passes:         {summary['passes']} in {summary['seconds']} s")


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def main(argv: list[str] | None = None) -> int:
    try:
        settings = parse(sys.argv[1:] if argv is None else argv, dict(os.environ))
    except ValueError as exc:
        print(f"erase: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
