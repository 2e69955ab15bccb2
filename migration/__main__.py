"""`make migrate DATABASE_URL=... [DRY_RUN=1] [TARGET=aws STACK=name] [REPORT=path]
[MERGE_WINDOW_MINUTES=30] [VERIFY_FILES=1]` (python -m migration; every setting is also a flag).

Exit status: 0 done; 2 bad input (nothing read, nothing written); 1 stopped by a fault after it
started (what was written stays; run it again to finish); 130 interrupted.
"""

import argparse
import contextlib
import os
import signal
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg

from mediagen.core.settings import SettingsError

try:  # the layer's models read its settings at import: a malformed variable is bad input too
    from migration import legacy
    from migration.files import FileChecker
    from migration.legacy import SourceError
    from migration.progress import Progress
    from migration.report import Report
    from migration.rules import Planner
    from migration.target import Target, TargetError, aws_target, bind_models, check_tables, local_target
    from migration.writer import WriteFailed, Writer
except SettingsError as exc:
    print(f"migrate: {exc}", file=sys.stderr)
    sys.exit(2)

SWITCH = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}
EXIT_BAD_INPUT = 2


class BadSetting(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    database_url: str
    dry_run: bool
    target: str  # local | aws
    port: int
    stack: str | None
    generations_table: str | None
    notifications_table: str | None
    report: Path
    window_minutes: float
    verify_files: bool
    workers: int
    progress_seconds: float


def parse(argv: list[str], env: dict[str, str]) -> Settings:
    parser = argparse.ArgumentParser(prog="make migrate", description=__doc__)
    parser.add_argument("--database-url", default=env.get("DATABASE_URL", ""))
    parser.add_argument("--dry-run", default=env.get("DRY_RUN", ""))
    parser.add_argument("--target", default=env.get("TARGET", "") or "local")
    parser.add_argument("--port", default=env.get("PORT", "") or "3000")
    parser.add_argument("--stack", default=env.get("STACK", ""))
    parser.add_argument("--generations-table", default=env.get("GENERATIONS_TABLE", ""))
    parser.add_argument("--notifications-table", default=env.get("NOTIFICATIONS_TABLE", ""))
    parser.add_argument("--report", default=env.get("REPORT", "") or "migration-report.json")
    parser.add_argument("--merge-window-minutes", default=env.get("MERGE_WINDOW_MINUTES", "") or "30")
    parser.add_argument("--verify-files", default=env.get("VERIFY_FILES", ""))
    parser.add_argument("--workers", default=env.get("MIGRATE_WORKERS", "") or "16")
    parser.add_argument("--progress-seconds", default=env.get("MIGRATE_PROGRESS_SECONDS", "") or "10")
    args = parser.parse_args(argv)
    target = args.target.strip().lower()
    if target not in ("local", "aws"):
        raise BadSetting(f"TARGET must be local or aws, not {args.target!r}")
    report = Path(args.report)
    if not report.parent.is_dir():
        raise BadSetting(f"REPORT: the folder {str(report.parent)!r} does not exist")
    return Settings(
        database_url=args.database_url.strip(),
        dry_run=_switch("DRY_RUN", args.dry_run),
        target=target,
        port=_number("PORT", args.port, int, 1, 65535),
        stack=args.stack.strip() or None,
        generations_table=args.generations_table.strip() or None,
        notifications_table=args.notifications_table.strip() or None,
        report=report,
        window_minutes=_number("MERGE_WINDOW_MINUTES", args.merge_window_minutes, float, 0, 7 * 24 * 60),
        verify_files=_switch("VERIFY_FILES", args.verify_files),
        workers=_number("MIGRATE_WORKERS", args.workers, int, 1, 256),
        progress_seconds=_number("MIGRATE_PROGRESS_SECONDS", args.progress_seconds, float, 0.1, 3600),
    )


def _switch(name: str, value: str) -> bool:
    text = value.strip().lower()
    if not text:
        return False
    if text not in SWITCH:
        raise BadSetting(f"{name} must be 1 or 0, not {value!r}")
    return SWITCH[text]


def _number(name: str, value: str, kind: type, low: float, high: float) -> Any:
    try:
        number = kind(value)
    except ValueError:
        raise BadSetting(f"{name} must be a number, not {value!r}") from None
    if not low <= number <= high or number != number:
        raise BadSetting(f"{name} must be between {low:g} and {high:g}, not {value!r}")
    return number


def resolve_target(settings: Settings) -> Target:
    if settings.target == "local":
        return local_target(settings.port)
    return aws_target(settings.stack, settings.generations_table, settings.notifications_table)


class Interrupted(Exception):
    pass


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    try:
        settings = parse(sys.argv[1:] if argv is None else argv, dict(os.environ))
        connection = legacy.connect(settings.database_url)
    except (BadSetting, SourceError) as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return run(settings, connection)
    finally:
        connection.close()


def run(settings: Settings, connection: psycopg.Connection[Any]) -> int:
    try:
        legacy.check_schema(connection)
        target = resolve_target(settings)
        bind_models(target)
        check_tables(target)
        if settings.verify_files and not target.media_bucket:
            raise TargetError("VERIFY_FILES=1 needs the media bucket: set MEDIA_BUCKET")
        total = legacy.count_generations(connection)
    except (SourceError, TargetError) as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except psycopg.Error as exc:
        print(f"migrate: cannot read the database: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT

    report = Report(
        {
            "dry_run": settings.dry_run,
            "source": legacy.redacted(settings.database_url),
            "target": target.as_report(),
            "merge_window_minutes": settings.window_minutes,
            "verify_files": settings.verify_files,
        }
    )
    report.started_at = datetime.now(UTC)
    progress = Progress(total, every_seconds=settings.progress_seconds)
    writer = Writer(report, workers=settings.workers, dry_run=settings.dry_run, on_written=progress.written)
    checker = (
        FileChecker(target.s3(), str(target.media_bucket), report, concurrency=settings.workers)
        if settings.verify_files
        else None
    )
    planner = Planner(timedelta(minutes=settings.window_minutes), report)
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        for generation in legacy.generations(connection):
            for plan in planner.feed(generation):
                writer.submit(plan)
                if checker:
                    checker.submit(plan)
            progress.read()
        for plan in planner.finish():
            writer.submit(plan)
            if checker:
                checker.submit(plan)
        for file_id, generation_id in legacy.orphan_files(connection):
            report.count("skipped.ImageFile")
            report.entry(
                "skipped",
                table="ImageFile",
                id=file_id,
                reason=f"its generation {generation_id} does not exist",
            )
        for notification_id, named in legacy.orphan_notifications(connection):
            reason = (
                f"its generation {named} does not exist"
                if named
                else "it names no generation (metadata.generationId)"
            )
            report.count("skipped.Notification")
            report.entry("skipped", table="Notification", id=notification_id, reason=reason)
        writer.close()
        if checker:
            checker.close()
        report.complete = True
    except WriteFailed as exc:
        report.error = f"a write failed: {exc}; what was written stays, run the same command again to finish"
        status = 1
    except psycopg.Error as exc:
        report.error = (
            f"reading the database failed: {str(exc).strip().splitlines()[0]}; run it again to finish"
        )
        status = 1
    except Interrupted as exc:
        report.error = f"interrupted ({exc}); run the same command again to finish"
        status = 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if not report.complete:
            _drain(writer, checker)
        progress.close()
        report.finished_at = datetime.now(UTC)
    report.write_json(settings.report)
    report.print(sys.stdout, details=settings.report)
    print(f"\nReport written to {settings.report}", file=sys.stdout)
    if report.error:
        print(f"migrate: {report.error}", file=sys.stderr)
    report.close()
    return status


def _drain(writer: Writer, checker: FileChecker | None) -> None:
    """After a fault: let the writes already queued finish (each is whole or absent either way)."""
    with contextlib.suppress(WriteFailed):
        writer.close()
    if checker:
        checker.close()


if __name__ == "__main__":
    sys.exit(main())
