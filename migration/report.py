"""The migration's report: counts for every rule, and each merge, tie, unattributed job, lost job,
skipped row, item kept as the service has it and missing file.

Counts are kept in memory; the lists are spooled to a temporary file as they happen (they grow with
the database; this process must not), then streamed to stdout and to the JSON report.
"""

import json
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TextIO

SECTIONS = ("merges", "ties", "unattributed", "lost", "skipped", "kept_as_found", "missing_files")
# Printed entries per list: the counts say how many there are, the JSON report has every one (7,500 rows
# printed 1,833 lines of merges before).
PRINTED_PER_SECTION = 10

# What each count means, in the order printed.
COUNTS = {
    "rows.generations": "generations read",
    "rows.frontend_records": "  front-end records (cuid ids)",
    "rows.uuid_records": "  records of the old webhook (UUID ids)",
    "rows.files": "files read",
    "rows.notifications": "notifications read (attached to a generation)",
    "jobs.as_was": "rule 6: jobs brought over as they were",
    "jobs.merged": "rule 3: double entries merged (one job, the UUID an alias)",
    "merges.ties": "rule 3: ties (a UUID record with two equally close candidates: no merge)",
    "jobs.unattributed": "rule 4: UUID records stored unattributed",
    "jobs.lost": 'rule 5: front-end jobs failed "did not complete in the old system"',
    "aliases": "aliases (UUID id -> front-end job)",
    "notifications.carried": "notifications brought over to the job's author",
    "notifications.carried_read": "  of which already read",
    "notifications.readdressed": "notifications of merged jobs moved from the first user to the author",
    "notifications.readdressed_read": "  of which read in the old system (kept read)",
    "notifications.created_for_merge": "notifications made for merged jobs that had none",
    "notifications.misdirected_dropped": "misdirected notifications dropped (to the first user)",
    "skipped.ImageGeneration": "generations skipped (see skipped)",
    "skipped.ImageFile": "files skipped (see skipped)",
    "skipped.Notification": "notifications skipped (see skipped)",
    "writes.created": "items written",
    "writes.already_present": "items already present, identical (an earlier run)",
    "writes.kept_as_found": "items present and changed since (kept as the service has them)",
    "writes.would_write": "items that would be written (dry run)",
    "files.checked": "file keys checked (VERIFY_FILES)",
    "files.missing": "file keys missing from the bucket",
}


class Report:
    """Thread-safe: the writers record their outcomes from several threads."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.counts: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.sizes: Counter[str] = Counter()  # entries per list
        self._lock = threading.RLock()
        self._spool: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.complete = False
        self.error: str | None = None

    def count(self, name: str, n: int = 1) -> None:
        if n:
            with self._lock:
                self.counts[name] += n

    def entry(self, section: str, **fields: object) -> None:
        assert section in SECTIONS, section
        line = json.dumps([section, fields], ensure_ascii=False, default=_json_default)
        with self._lock:
            self._spool.write(line + "\n")
            self.sizes[section] += 1

    def request(self, operation: str) -> None:
        with self._lock:
            self.requests[operation] += 1

    def entries(self, section: str) -> Iterator[dict[str, Any]]:
        with self._lock:
            self._spool.flush()
            self._spool.seek(0)
            lines = iter(self._spool.readline, "")
            for line in lines:
                name, fields = json.loads(line)
                if name == section:
                    yield fields
            self._spool.seek(0, 2)

    def migrated_jobs(self) -> int:
        return sum(
            self.counts[name] for name in ("jobs.as_was", "jobs.merged", "jobs.unattributed", "jobs.lost")
        )

    def summary(self) -> dict[str, Any]:
        duration = (
            (self.finished_at - self.started_at).total_seconds()
            if self.started_at and self.finished_at
            else None
        )
        dynamodb = sum(self.requests.values())
        jobs = self.migrated_jobs()
        return {
            **self.settings,
            "complete": self.complete,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_seconds": round(duration, 3) if duration is not None else None,
            "counts": {name: self.counts[name] for name in COUNTS if name in self.counts}
            | {name: value for name, value in sorted(self.counts.items()) if name not in COUNTS},
            "requests": {
                "dynamodb": dict(sorted(self.requests.items())),
                "dynamodb_total": dynamodb,
                "dynamodb_per_migrated_job": round(dynamodb / jobs, 3) if jobs else None,
            },
        }

    def write_json(self, path: Path) -> None:
        """The summary, then each list streamed from the spool (never all in memory)."""
        summary = json.dumps(self.summary(), ensure_ascii=False, indent=2, default=_json_default)
        tmp = path.with_name(path.name + ".partial")
        with tmp.open("w", encoding="utf-8") as out:
            out.write(summary[: summary.rstrip().rfind("}")].rstrip())
            for section in SECTIONS:
                out.write(f',\n  "{section}": [')
                for index, fields in enumerate(self.entries(section)):
                    out.write(("," if index else "") + "\n    " + json.dumps(fields, ensure_ascii=False))
                out.write("\n  ]")
            out.write("\n}\n")
        tmp.replace(path)

    def outcome(self) -> str:
        """What the run did, in words: what it wrote, never 'written' for a run that wrote nothing."""
        state = "complete" if self.complete else f"INCOMPLETE ({self.error})"
        if self.settings.get("dry_run"):
            return f"{state}; DRY RUN, nothing written"
        written, present = self.counts["writes.created"], self.counts["writes.already_present"]
        if written:
            return f"{state}; {written} items written"
        if present:
            return f"{state}; nothing written: every item was already there"
        return f"{state}; nothing written"

    def print(self, out: TextIO, details: Path | None = None) -> None:
        """The counts, and the first entries of each list; `details` (the JSON report) has them all."""
        summary = self.summary()
        print(f"Migration report ({self.outcome()})", file=out)
        print(f"  source: {self.settings.get('source')}", file=out)
        print(f"  target: {self.settings.get('target')}", file=out)
        print(f"  merge window: {self.settings.get('merge_window_minutes')} minutes", file=out)
        if summary["duration_seconds"] is not None:
            print(f"  duration: {summary['duration_seconds']:.1f} s", file=out)
        print("", file=out)
        for name, label in COUNTS.items():
            if name in self.counts or name.startswith(("jobs.", "rows.generations")):
                print(f"  {self.counts[name]:>9}  {label}", file=out)
        requests = summary["requests"]
        print(
            f"  {requests['dynamodb_total']:>9}  DynamoDB requests"
            + (
                f" ({requests['dynamodb_per_migrated_job']} per migrated job)"
                if requests["dynamodb_total"]
                else ""
            ),
            file=out,
        )
        printers = {
            "merges": lambda e: (
                f"{e['uuid']} -> {e['frontend_id']}  author {e['author']}, {e['minutes_apart']} min apart"
            ),
            "ties": lambda e: f"{e['uuid']}: {', '.join(e['candidates'])} (created {e['created_at']})",
            "unattributed": lambda e: f"{e['id']}: {e['reason']}",
            "lost": lambda e: f"{e['id']} (author {e['author']})",
            "skipped": lambda e: f"{e['table']} {e['id']}: {e['reason']}",
            "kept_as_found": lambda e: f"{e['table']} {e['key']}: {e['reason']}",
            "missing_files": lambda e: f"{e['job_id']}: {e['key']} ({e['reason']})",
        }
        where = f"see {details}" if details else "see the JSON report"
        for section in SECTIONS:
            for shown, fields in enumerate(self.entries(section)):
                if shown == PRINTED_PER_SECTION:
                    print(f"  ... and {self.sizes[section] - shown} more ({where})", file=out)
                    break
                if not shown:
                    print(f"\n{section}:", file=out)
                print(f"  {printers[section](fields)}", file=out)

    def close(self) -> None:
        self._spool.close()


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON: {type(value).__name__}")
