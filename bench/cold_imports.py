"""Cold imports of every handler, this tree against another revision, side by side in one run.

`python -m bench.cold_imports --against <rev>` exports `<rev>` (`git archive`) into a temporary folder
and, for each function both trees have, imports its `app` module in a fresh interpreter (this
virtualenv's libraries; `PYTHONDONTWRITEBYTECODE=1` and a read-only copy of each tree's own code, so
both compile their code at every import, as a Lambda without shipped bytecode would), alternating the
two trees run by run. It prints the median import time of each, their ratio, and how many modules each
import loads (the count is exact; the times are as noisy as the machine). A change that moves code (a
new layout) should leave both the same: `make bench` measures the built layer's cold start; this
measures what a refactoring did to it, before it is built.
"""

import argparse
import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.stand_in import ROOT
from bench.stats import median, table
from deploy.placeholder_settings import PLACEHOLDER_SETTINGS

CHILD = r"""
import importlib, json, sys, time
before = set(sys.modules)
t0 = time.perf_counter()
importlib.import_module(sys.argv[1])
elapsed = time.perf_counter() - t0
loaded = set(sys.modules) - before
ours = [m for m in loaded if m.split(".")[0] == "mediagen" or m.endswith(".app")]
print(json.dumps({"seconds": elapsed, "modules": len(loaded), "ours": len(ours)}))
"""
# What every function gets (placeholders: nothing is called), without bytecode writes.
ENVIRONMENT = {
    **PLACEHOLDER_SETTINGS,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_SERVICE_NAME": "mediagen",
    "POWERTOOLS_METRICS_NAMESPACE": "Mediagen",
    "GENERATIONS_TABLE": "generations",
    "NOTIFICATIONS_TABLE": "notifications",
    "JOBS_IN_FLIGHT_TABLE": "jobs-in-flight",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def export(revision: str, into: Path) -> Path:
    """The revision's layer and functions, read-only, without any bytecode."""
    archive = subprocess.run(  # noqa: S603 - git, with our own arguments
        ["git", "archive", "--format=tar", revision, "layers/shared", "functions"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)  # noqa: S603, S607
    return into


def copy_of_this_tree(into: Path) -> Path:
    for folder in ("layers/shared", "functions"):
        files = subprocess.run(  # noqa: S603
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", folder],  # noqa: S607
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        for name in files:
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((ROOT / name).read_bytes())
    return into


def read_only(tree: Path) -> None:
    for path in tree.rglob("*"):
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def writable(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def handlers(tree: Path) -> set[str]:
    return {path.parent.name for path in (tree / "functions").glob("*/app.py")}


def measure(tree: Path, handler: str) -> dict[str, float]:
    env = {
        **ENVIRONMENT,
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": f"{tree}/layers/shared:{tree}/functions",
    }
    out = subprocess.run(  # noqa: S603 - this interpreter, our own child
        [sys.executable, "-c", CHILD, f"{handler}.app"], env=env, check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out.splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--against", required=True, help="the revision to compare with (e.g. a commit)")
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per handler and tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mediagen-cold-imports-") as scratch:
        before = export(args.against, Path(scratch, "before"))
        after = copy_of_this_tree(Path(scratch, "after"))
        trees = {"before": before, "after": after}
        for tree in trees.values():
            read_only(tree)
        try:
            common = sorted(handlers(before) & handlers(after))
            samples: dict[tuple[str, str], list[dict[str, float]]] = {}
            for _ in range(args.runs):
                for handler in common:
                    for name, tree in trees.items():  # alternated: both see the same machine
                        samples.setdefault((handler, name), []).append(measure(tree, handler))
        finally:
            for tree in trees.values():
                writable(tree)
    rows = []
    for handler in common:
        b, a = samples[(handler, "before")], samples[(handler, "after")]
        tb, ta = median([s["seconds"] for s in b]) * 1000, median([s["seconds"] for s in a]) * 1000
        rows.append(
            [
                handler,
                f"{tb:.0f} ms",
                f"{ta:.0f} ms",
                f"{ta / tb:.2f}x",
                f"{int(b[0]['modules'])} ({int(b[0]['ours'])} ours)",
                f"{int(a[0]['modules'])} ({int(a[0]['ours'])} ours)",
            ]
        )
    print(f"Cold imports, {args.runs} fresh interpreters per handler and tree, alternated")
    print(f"before = {args.against}, after = this tree; medians")
    print(
        "\n".join(
            table(["handler", "before", "after", "after/before", "modules before", "modules after"], rows)
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
