"""Every benchmark, one after the other, each in its own process: what `make bench` and `make
bench-quick` run.

    .venv/bin/python -m bench.all                  # make bench: full counts, rewrites docs/performance.md
    .venv/bin/python -m bench.all --only erasure   # some of them (names as listed by --list)
    .venv/bin/python -m bench.all --quick          # make bench-quick: every bench with --quick (small
                                                   # counts, the same code paths) writing a scratch copy

Each bench writes its own section of the page (bench/doc.py: the text between its two markers, with
the date and the commit of its run); what lies outside the markers is written by hand and kept. A bench
that fails does not stop the others (the figures of the others are still written) but the exit status
is then 1. So is a bench that exits 0 without writing its section with figures in it: the quick run
(CI's) checks that every bench still produces its figures, not what they are.

The quick run writes into `.local/bench-quick/performance.md` (it starts empty) and keeps each bench's
output beside it (`<name>.log`), so CI's copy of the figures and logs can be read after the run.
"""

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import doc

QUICK_DIR = doc.ROOT / ".local" / "bench-quick"
# Generous bounds for a loaded 2-core machine (a quick bench takes 15 s to 2 min on one): a bench that
# hangs fails the run instead of holding CI until its own time limit.
TIMEOUT_SECONDS = {"full": 3 * 3600, "quick": 900}


@dataclass(frozen=True)
class Bench:
    name: str  # python -m bench.<name>
    what: str
    start: str  # its section's markers in docs/performance.md
    end: str


def benches() -> list[Bench]:
    """In the order of a run: the in-process ones first (a calm machine for the cold starts), the
    ones that start services after. The markers are the benches' own (imported, not repeated)."""
    from bench import erasure, library, live_progress, local_throughput, migration, run, soak

    return [
        Bench("run", "webhook latency, cold start, capacity (issue 6)", run.START, run.END),
        Bench("library", "a person's library: units and requests (issue 21)", library.START, library.END),
        Bench("erasure", "erasing a person (issue 22)", erasure.START, erasure.END),
        Bench(
            "live_progress",
            "live progress against polling (issue 23)",
            live_progress.START,
            live_progress.END,
        ),
        Bench(
            "local_throughput",
            "local service throughput, before and after (issue 13)",
            local_throughput.START,
            local_throughput.END,
        ),
        Bench("migration", "make migrate (issue 11)", migration.START, migration.END),
        Bench("soak", "a thousand jobs on one make run (issue 30)", soak.START, soak.END),
    ]


def has_figures(section: str | None) -> bool:
    """A section written with figures: a table (Markdown or plain text) holding a number."""
    if section is None:
        return False
    table_lines = [line for line in section.splitlines() if line.startswith("|") or re.match(r"^\s*\d", line)]
    return any(re.search(r"\d", line) for line in table_lines)


@dataclass
class Outcome:
    bench: Bench
    status: int
    seconds: float
    cpu_seconds: float  # its processes' user and system time: what a calmer machine would still pay
    figures: bool
    log: Path | None

    @property
    def ok(self) -> bool:
        return self.status == 0 and self.figures


def run_one(bench: Bench, quick: bool, environment: dict[str, str], log: Path | None) -> Outcome:
    command = [sys.executable, "-m", f"bench.{bench.name}", "--doc", *(["--quick"] if quick else [])]
    print(f"== {bench.name}: {bench.what}\n$ {' '.join(command[1:])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    cpu_before = _children_cpu()
    output = open(log, "w", encoding="utf-8") if log else None  # noqa: SIM115 - closed below
    try:
        status = subprocess.run(  # noqa: S603 - our own benches
            command,
            cwd=doc.ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            timeout=TIMEOUT_SECONDS["quick" if quick else "full"],
            check=False,
        ).returncode
    except subprocess.TimeoutExpired:
        status = -1
    finally:
        if output:
            output.close()
    seconds = time.monotonic() - started
    page = doc.doc_path()
    text = page.read_text(encoding="utf-8") if page.exists() else ""
    cpu = _children_cpu() - cpu_before
    return Outcome(
        bench, status, seconds, cpu, has_figures(doc.section_of(text, bench.start, bench.end)), log
    )


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _children_cpu() -> float:
    """User and system seconds of the finished child processes (and theirs, when waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small counts; writes a scratch copy")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benches")
    parser.add_argument("--list", action="store_true", help="name the benches and stop")
    args = parser.parse_args()
    chosen = benches()
    if args.list:
        print("\n".join(f"{b.name}: {b.what}" for b in chosen))
        return 0
    if args.only:
        unknown = set(args.only) - {b.name for b in chosen}
        if unknown:
            parser.error(f"no such bench: {', '.join(sorted(unknown))} (see --list)")
        chosen = [b for b in chosen if b.name in args.only]
    environment = dict(os.environ)
    if args.quick:
        QUICK_DIR.mkdir(parents=True, exist_ok=True)
        scratch = QUICK_DIR / "performance.md"
        scratch.write_text("", encoding="utf-8")  # every section must be written by this run
        environment[doc.DOC_VARIABLE] = str(scratch)
        os.environ[doc.DOC_VARIABLE] = str(scratch)  # where this process looks for the sections
    started = time.monotonic()
    outcomes = [
        run_one(b, args.quick, environment, QUICK_DIR / f"{b.name}.log" if args.quick else None)
        for b in chosen
    ]
    print(f"\n{'quick' if args.quick else 'full'} run of {len(outcomes)} benches, written to "
          f"{doc.shown(doc.doc_path())}:")  # fmt: skip
    for outcome in outcomes:
        verdict = (
            "ok"
            if outcome.ok
            else ("timed out" if outcome.status == -1 else f"FAILED (exit {outcome.status})")
            if outcome.status
            else "FAILED (no figures in its section)"
        )
        print(
            f"  {outcome.bench.name:<17} {outcome.seconds:6.0f} s  "
            f"{outcome.cpu_seconds:6.0f} s CPU  {verdict}"
        )
        if not outcome.ok and outcome.log:
            lines = outcome.log.read_text(encoding="utf-8", errors="replace").splitlines()
            print("\n".join(f"    | {line}" for line in lines[-40:]))
            print(f"    (whole output: {doc.shown(outcome.log)})")
    cpu = sum(o.cpu_seconds for o in outcomes)
    print(
        f"  {'total':<17} {time.monotonic() - started:6.0f} s  {cpu:6.0f} s CPU  (load average now {_load()})"
    )
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
