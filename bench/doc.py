"""docs/performance.md, written section by section: each benchmark owns the text between its two
markers and replaces only that (what lies outside every pair of markers is written by hand and kept).

`MEDIAGEN_BENCH_DOC` names another file to write instead: `python -m bench.all --quick` points it at a
scratch copy, so a quick run checks that every section is written without touching the real page.
"""

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC_VARIABLE = "MEDIAGEN_BENCH_DOC"


def doc_path() -> Path:
    """The page the benchmarks write: docs/performance.md unless MEDIAGEN_BENCH_DOC names another."""
    return Path(os.environ.get(DOC_VARIABLE) or ROOT / "docs" / "performance.md")


def shown(path: Path) -> str:
    """The path as a message shows it: relative to the repository when it is inside."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def commit() -> str:
    """The short commit of the tree measured, and whether it had uncommitted changes (other than in
    the page written: `make bench` writes it bench after bench, so a later one finds it changed)."""

    def git(*arguments: str) -> str:
        try:
            return subprocess.run(  # noqa: S603
                ["git", *arguments],  # noqa: S607
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    page = doc_path()
    written = [f":(exclude){page.relative_to(ROOT)}"] if page.is_relative_to(ROOT) else []
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", *written)
    return (git("rev-parse", "--short", "HEAD") or "n/a") + (" + uncommitted changes" if dirty else "")


def stamp() -> str:
    """When and on what a section's figures were measured: date, commit."""
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit()}"


def write_section(start: str, end: str, section: str) -> Path:
    """Replace the text from `start` to `end` (markers included) with `section`, which must begin
    with `start` and end with `end`; append it when the page has no such section. Returns the path."""
    if not (section.startswith(start) and section.rstrip("\n").endswith(end)):
        raise ValueError("a section begins and ends with its own markers")
    path = doc_path()
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    section = section.rstrip("\n")
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def section_of(text: str, start: str, end: str) -> str | None:
    """The text between a section's markers, or None when the page has no such section."""
    if start not in text or end not in text.split(start, 1)[1]:
        return None
    return text.split(start, 1)[1].split(end, 1)[0]
