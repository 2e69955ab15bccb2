"""The migration's printed report: what the run did in words, the counts, and a bounded sample of each
list (the JSON report keeps every entry). Plain objects, no database: milliseconds."""

import io
import json
from pathlib import Path

from migration.report import PRINTED_PER_SECTION, Report


def report_with(merges: int, unattributed: int, **counts: int) -> Report:
    report = Report({"dry_run": False, "source": "postgresql://u@h/db", "merge_window_minutes": 30})
    for n in range(merges):
        report.entry("merges", uuid=f"u{n}", frontend_id=f"cm{n}", author="user_a", minutes_apart=1.5)
    for n in range(unattributed):
        report.entry("unattributed", id=f"x{n}", reason="no front-end generation to merge with")
    for name, value in counts.items():
        report.count(name.replace("__", "."), value)
    report.complete = True
    return report


def printed(report: Report, details: Path | None = None) -> str:
    out = io.StringIO()
    report.print(out, details=details)
    return out.getvalue()


def test_a_large_run_prints_its_counts_and_a_sample_and_the_json_keeps_every_entry(tmp_path: Path) -> None:
    # Given the merges of a 7,500-row database (1,833 of them printed one line each before)
    report = report_with(1833, 3, jobs__merged=1833, jobs__unattributed=3, writes__created=9000)
    details = tmp_path / "migration-report.json"

    text = printed(report, details)
    report.write_json(details)

    lines = text.splitlines()
    assert len(lines) < 60, len(lines)
    assert "  ... and 1823 more (see " + str(details) + ")" in lines
    assert sum(line.startswith("  u") for line in lines) == PRINTED_PER_SECTION
    assert sum(line.startswith("  x") for line in lines) == 3, "a short list is printed whole"
    assert "   1833  rule 3: double entries merged (one job, the UUID an alias)" in text
    document = json.loads(details.read_text())
    assert len(document["merges"]) == 1833 and len(document["unattributed"]) == 3
    report.close()


def test_the_first_line_says_what_the_run_wrote() -> None:
    cases = {
        "complete; 27 items written": report_with(0, 0, writes__created=27),
        "complete; nothing written: every item was already there": report_with(
            0, 0, writes__already_present=27
        ),
        "complete; nothing written": report_with(0, 0),
    }
    dry = report_with(0, 0, writes__would_write=27)
    dry.settings["dry_run"] = True
    cases["complete; DRY RUN, nothing written"] = dry
    stopped = report_with(0, 0)
    stopped.complete, stopped.error = False, "interrupted (SIGINT)"
    cases["INCOMPLETE (interrupted (SIGINT)); nothing written"] = stopped
    for expected, report in cases.items():
        assert printed(report).splitlines()[0] == f"Migration report ({expected})"
        assert report.summary()["counts"] == dict(report.summary()["counts"])
        report.close()
