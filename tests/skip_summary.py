"""What a test run did not cover, printed at its end: each reason a suite skipped (a missing tool:
Chromium, node and npm, Java >= 17 with jdk.compiler for DynamoDB Local, ffmpeg...), how many tests,
in which files, and how to get full coverage. A skip must never pass unseen: `make test` on a laptop
without Chromium is green, and says so here. CI sets the MEDIAGEN_REQUIRE_* variables, which turn these
skips into failures."""

from collections import defaultdict
from typing import Any

import pytest

TITLE = "what this run did not cover"
REQUIRE = (
    "Install what is missing for full coverage (README, Tests); CI sets MEDIAGEN_REQUIRE_BROWSER=1, "
    "MEDIAGEN_REQUIRE_NODE=1 and MEDIAGEN_REQUIRE_DYNAMODB_LOCAL=1, which make these skips failures."
)


def skipped_suites(reports: list[Any]) -> list[str]:
    """One line per reason: the number of tests it skipped and the files they are in."""
    by_reason: dict[str, list[str]] = defaultdict(list)
    for report in reports:
        if not getattr(report, "skipped", False):
            continue
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        by_reason[reason.removeprefix("Skipped: ")].append(report.nodeid.split("::")[0])
    lines = []
    for reason, files in sorted(by_reason.items(), key=lambda item: (-len(item[1]), item[0])):
        where = ", ".join(sorted(set(files)))
        lines.append(f"{len(files):>5} skipped: {reason}  [{where}]")
    return lines


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    lines = skipped_suites(terminalreporter.stats.get("skipped", []))
    if not lines:
        if terminalreporter.stats.get("passed"):
            terminalreporter.write_sep("=", f"{TITLE}: nothing, no test skipped", green=True)
        return
    terminalreporter.write_sep("=", TITLE, yellow=True, bold=True)
    for line in lines:
        terminalreporter.write_line(line)
    terminalreporter.write_line(REQUIRE)
