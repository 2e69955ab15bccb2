"""Cold start as Lambda runs it: each handler's import and module-level initialisation, in a fresh
interpreter, from a read-only copy of the built layer and function, with no bytecode written; as a ratio
to `import boto3; boto3.client("dynamodb")` measured the same way in the same run (the floor); and
`-X importtime` of each handler, to say which imports dominate.

What is imported is what `sam build` ships (layers/shared/Makefile, functions/Makefile): the layer's
wheels and code with their unchecked-hash Python 3.13 bytecode, and each function's `app.py` with its
own. On an arm64 machine that is the arm64 build itself; elsewhere (x86_64: pydantic-core and
cryptography are native) the same Makefile builds the same layer for the host (`LAYER_ARCH`), since
arm64 libraries cannot be loaded here. Two variants, measured side by side, interleaved:

- `with bytecode`: the build as shipped now (after);
- `without bytecode`: the same files with every `__pycache__` removed, which is what SAM's Python
  workflow shipped before (before): in Lambda's read-only /opt and /var/task nothing can be cached, so
  every cold start compiles every module it imports.

Both copies are made read-only (`chmod -R a-w`) and every child runs with `PYTHONDONTWRITEBYTECODE=1`
and `-S` (no site-packages: only the layer and the function are importable, as in Lambda); after the
runs the bench checks that no bytecode file appeared. Every measurement is a new interpreter; the clock
starts inside it, after the interpreter's own start-up, which Lambda's runtime pays alike for every
function. One discarded round first warms the OS file cache, so rounds measure importing, not disk reads.
"""

import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.stand_in import ROOT
from bench.stats import median, table
from deploy.placeholder_settings import PLACEHOLDER_SETTINGS

BASELINE = "baseline: import boto3; boto3.client('dynamodb')"
GOAL_RATIO = 1.25
WITH, WITHOUT = "with bytecode", "without bytecode"

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
target = sys.argv[1]
if target == "baseline":
    import boto3
    t1 = time.perf_counter()
    boto3.client("dynamodb")
    t2 = time.perf_counter()
else:
    import importlib
    importlib.import_module(target)
    t1 = time.perf_counter()
    # The DynamoDB client the handler creates on its first request (PynamoDB's, lazily): the baseline's
    # second half, measured apart so the two columns compare the same work.
    models = sys.modules.get("mediagen.data.models")
    if models is not None:
        models.Generation._get_connection().connection.client
    t2 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1000, "client_ms": (t2 - t1) * 1000, "modules": len(sys.modules)}))
"""


def handlers() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))


@dataclass
class Build:
    """Read-only copies of the built layer and functions, with and without bytecode."""

    root: Path
    architecture: str
    pyc_count: dict[str, int] = field(default_factory=dict)

    def layer(self, variant: str) -> Path:
        return self.root / variant / "layer" / "python"

    def function(self, variant: str, name: str) -> Path:
        return self.root / variant / "functions" / name

    def pythonpath(self, variant: str, target: str) -> str:
        paths = [str(self.layer(variant))]
        if target != "baseline":
            paths.insert(0, str(self.function(variant, target)))  # /var/task first, then /opt/python
        return os.pathsep.join(paths)

    def bytecode_files(self) -> dict[str, int]:
        return {variant: sum(1 for _ in (self.root / variant).rglob("*.pyc")) for variant in (WITH, WITHOUT)}

    def close(self) -> None:
        for path in [self.root, *self.root.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(self.root, ignore_errors=True)


def build() -> Build:
    """The layer and functions as `sam build` makes them, for this machine's architecture."""
    machine = platform.machine().lower()
    architecture = "aarch64" if machine in ("aarch64", "arm64") else machine
    root = Path(tempfile.mkdtemp(prefix="mediagen-cold-"))
    built = Build(root, architecture)
    after = root / WITH
    make = ["make", "--no-print-directory", "-s"]
    subprocess.run(  # noqa: S603 - our own Makefile
        [
            *make,
            "-C",
            str(ROOT / "layers" / "shared"),
            "build-SharedLayer",
            f"ARTIFACTS_DIR={after / 'layer'}",
            f"LAYER_ARCH={architecture}",
        ],
        check=True,
    )
    for name in handlers():
        target = after / "functions" / name
        target.mkdir(parents=True)
        subprocess.run(  # noqa: S603 - our own Makefile, in the function's folder as sam build runs it
            [*make, "-f", str(ROOT / "functions" / "Makefile"), f"build-{name}", f"ARTIFACTS_DIR={target}"],
            cwd=ROOT / "functions" / name,
            check=True,
        )
    before = root / WITHOUT
    shutil.copytree(after, before, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [*root.rglob("*"), root / WITH, root / WITHOUT]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    built.pyc_count = built.bytecode_files()
    return built


def lambda_like_environment(pythonpath: str) -> dict[str, str]:
    """What a deployed function's process has: its settings (the placeholders every tool that imports
    the handlers uses, deploy/placeholder_settings.py: a handler checks them at import and calls
    nothing), credentials in the environment, no ~/.aws, and no bytecode writes (Lambda's code folders
    are read-only)."""
    return {
        **PLACEHOLDER_SETTINGS,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": pythonpath,
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "GENERATIONS_TABLE": "mediagen-generations",
        "NOTIFICATIONS_TABLE": "mediagen-notifications",
        "JOBS_IN_FLIGHT_TABLE": "mediagen-jobs-in-flight",
        "ERASED_PEOPLE_TABLE": "mediagen-erased-people",
        "AUTH_AUTHORIZED_PARTIES": "https://app.example.com",
        "POWERTOOLS_SERVICE_NAME": "mediagen",
        "POWERTOOLS_METRICS_NAMESPACE": "Mediagen",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def _module(target: str) -> str:
    return target if target == "baseline" else "app"


def measure_once(built: Build, variant: str, target: str) -> dict[str, float]:
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-S", "-c", CHILD, _module(target)],
        env=lambda_like_environment(built.pythonpath(variant, target)),
        cwd=built.root,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{target} ({variant}): {completed.stderr.strip()[-2000:]}")
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


@dataclass
class ImportCost:
    module: str
    self_us: int
    cumulative_us: int
    parent: str | None  # the module whose import imported it (None: the top)


@dataclass
class ColdStartResult:
    runs: dict[str, list[dict[str, float]]]  # with bytecode (after)
    importtime: dict[str, list[ImportCost]]
    repetitions: int
    before: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # without bytecode
    architecture: str = ""

    def ratio_before(self, target: str) -> float:
        """The handler without bytecode (what was shipped before) over the same floor as `ratio`."""
        pairs = zip(self.before[target], self.runs["baseline"], strict=True)
        return median([run["import_ms"] / (base["import_ms"] + base["client_ms"]) for run, base in pairs])

    def median_of(self, target: str, key: str) -> float:
        return median([r[key] for r in self.runs[target]])

    def baseline_ms(self) -> float:
        return median([r["import_ms"] + r["client_ms"] for r in self.runs["baseline"]])

    def ratio(self, target: str) -> float:
        """The median over rounds of the handler's import over the baseline of the same round: a slow
        moment of the machine hits both sides of each ratio."""
        return self._ratio(target, ("import_ms",))

    def ratio_with_client(self, target: str) -> float:
        return self._ratio(target, ("import_ms", "client_ms"))

    def _ratio(self, target: str, keys: tuple[str, ...]) -> float:
        pairs = zip(self.runs[target], self.runs["baseline"], strict=True)
        return median(
            [sum(run[k] for k in keys) / (base["import_ms"] + base["client_ms"]) for run, base in pairs]
        )

    def failing(self) -> list[str]:
        return [t for t in self.runs if t != "baseline" and self.ratio(t) > GOAL_RATIO]


def parse_importtime(stderr: str) -> list[ImportCost]:
    """`-X importtime` lines come children first, each indented one level deeper than its importer."""
    costs: list[ImportCost] = []
    waiting: dict[int, list[int]] = {}  # depth -> indexes of modules whose importer is not seen yet
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        head, cumulative, name = line.split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        module = name.strip()
        for child in waiting.pop(depth + 1, []):
            costs[child].parent = module
        waiting.setdefault(depth, []).append(len(costs))
        costs.append(ImportCost(module, int(head.split(":", 1)[1]), int(cumulative), None))
    return costs


def importtime(built: Build, target: str, runs: int) -> list[ImportCost]:
    """`python -X importtime`, `runs` times, as measured above (with bytecode): each module's median
    self and cumulative microseconds."""
    samples: dict[str, list[ImportCost]] = {}
    code = "import boto3" if target == "baseline" else f"import {_module(target)}"
    for _ in range(runs):
        completed = subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-S", "-X", "importtime", "-c", code],
            env=lambda_like_environment(built.pythonpath(WITH, target)),
            cwd=built.root,
            capture_output=True,
            text=True,
            check=True,
        )
        for cost in parse_importtime(completed.stderr):
            samples.setdefault(cost.module, []).append(cost)
    return [
        ImportCost(
            module,
            int(median([c.self_us for c in costs])),
            int(median([c.cumulative_us for c in costs])),
            costs[0].parent,
        )
        for module, costs in samples.items()
    ]


def run(repetitions: int, importtime_runs: int, warm_rounds: int = 1) -> ColdStartResult:
    """`warm_rounds` discarded rounds first (the OS file cache), then `repetitions` measured ones."""
    print(f"  cold start: building the layer and functions for {platform.machine()}", file=sys.stderr)
    built = build()
    try:
        targets = ["baseline", *handlers()]
        plan = [(variant, target) for target in targets for variant in (WITH, WITHOUT)]
        for _ in range(warm_rounds):
            for variant, target in plan:  # discarded: the OS file cache
                measure_once(built, variant, target)
        runs: dict[str, dict[str, list[dict[str, float]]]] = {WITH: {}, WITHOUT: {}}
        for index in range(repetitions):
            order = plan[index % len(plan) :] + plan[: index % len(plan)]
            for variant, target in order:
                runs[variant].setdefault(target, []).append(measure_once(built, variant, target))
            print(f"  cold start: round {index + 1}/{repetitions}", file=sys.stderr)
        profiles = {t: importtime(built, t, importtime_runs) for t in targets}
        if built.bytecode_files() != built.pyc_count:
            raise RuntimeError(
                f"bytecode was written during the runs: {built.pyc_count} -> {built.bytecode_files()}"
            )
        if built.pyc_count[WITHOUT] != 0:
            raise RuntimeError("the copy without bytecode has bytecode")
    finally:
        built.close()
    return ColdStartResult(
        runs={t: runs[WITH][t] for t in targets},
        importtime=profiles,
        repetitions=repetitions,
        before={t: runs[WITHOUT][t] for t in targets},
        architecture=built.architecture,
    )


def _is_stdlib(module: str) -> bool:
    top = module.split(".")[0]
    return top in sys.stdlib_module_names or top.startswith("_")


def family(module: str, parents: dict[str, str | None]) -> str:
    """Who a module's own import time is booked to: its distribution (Powertools and mediagen split by
    subpackage, where the question is which part), and a standard-library module to the nearest
    importer that is not one: `asyncio` pulled in by Powertools' event handler counts there."""
    seen = set()
    current: str | None = module
    while current is not None and _is_stdlib(current) and current not in seen:
        seen.add(current)
        current = parents.get(current)
    if current is None or _is_stdlib(current):
        return "stdlib (interpreter start-up)"
    top = current.split(".")[0]
    if top in ("aws_lambda_powertools", "mediagen"):
        return ".".join(current.split(".")[:2])
    return top


def report(result: ColdStartResult) -> list[str]:
    rows = []
    baseline = result.baseline_ms()
    for target in result.runs:
        import_ms = result.median_of(target, "import_ms")
        client_ms = result.median_of(target, "client_ms")
        runs = result.runs[target]
        total = median([r["import_ms"] + r["client_ms"] for r in runs])
        is_base = target == "baseline"
        imports = [r["import_ms"] for r in runs]
        before = median([r["import_ms"] for r in result.before[target]]) if result.before else 0.0
        rows.append(
            [
                BASELINE if is_base else target,
                f"{before:.0f}",
                "" if is_base else f"{result.ratio_before(target):.2f}",
                f"{import_ms:.0f}",
                f"{min(imports):.0f}-{max(imports):.0f}",
                f"{client_ms:.0f}",
                f"{total:.0f}",
                int(median([r["modules"] for r in runs])),
                "" if is_base else f"{result.ratio(target):.2f}",
                "" if is_base else f"{result.ratio_with_client(target):.2f}",
                "" if is_base else ("yes" if result.ratio(target) <= GOAL_RATIO else "NO"),
            ]
        )
    lines = table(
        [
            "handler",
            "before: import ms",
            "ratio before",
            "after: import ms",
            "(min-max)",
            "+ DynamoDB client ms",
            "total ms",
            "modules",
            "ratio (import)",
            "ratio (+ client)",
            f"<= {GOAL_RATIO}",
        ],
        rows,
        [False, True, True, True, True, True, True, True, True, True, False],
    )
    lines.append("")
    lines.append(
        f"Medians of {result.repetitions} fresh processes each, interleaved, from read-only copies of the "
        f"layer and functions as `sam build` makes them (built here for {result.architecture}), with "
        "PYTHONDONTWRITEBYTECODE=1 and no site-packages. 'before': the same files without any "
        "bytecode, as SAM's Python workflow shipped them (every module compiled at every cold start); "
        "'after': with the unchecked-hash Python 3.13 bytecode the build now ships. The floor is "
        f"{baseline:.0f} ms (import boto3 from the layer, then create the client, with bytecode). Ratios "
        "are medians over the rounds of the handler over the floor of the same round. 'ratio (import)' "
        "is the goal's: the handler's import and module-level initialisation over the floor; 'ratio "
        "(+ client)' adds the DynamoDB client the handler creates lazily on its first request, the same "
        "work as the floor's second half."
    )
    return lines


def own_time_by_family(costs: list[ImportCost]) -> list[tuple[str, int]]:
    parents = {c.module: c.parent for c in costs}
    by_family: dict[str, int] = {}
    for cost in costs:
        name = family(cost.module, parents)
        by_family[name] = by_family.get(name, 0) + cost.self_us
    return sorted(by_family.items(), key=lambda kv: kv[1], reverse=True)


def top_families(result: ColdStartResult, target: str, count: int) -> list[str]:
    return [
        f"{name} {us / 1000:.0f} ms" for name, us in own_time_by_family(result.importtime[target])[:count]
    ]


def report_importtime(result: ColdStartResult, top: int = 10) -> list[str]:
    lines: list[str] = []
    for target, costs in result.importtime.items():
        own = _module(target) if target != "baseline" else "boto3"
        total = next((c.cumulative_us for c in costs if c.module == own), 0)
        label = BASELINE if target == "baseline" else f"{target}/app"
        lines.append(f"{label}: {total / 1000:.0f} ms under -X importtime")
        ranked = sorted((c for c in costs if c.module != own), key=lambda c: c.cumulative_us, reverse=True)
        lines += table(
            ["module (top cumulative)", "cumulative ms", "self ms"],
            [[c.module, f"{c.cumulative_us / 1000:.1f}", f"{c.self_us / 1000:.1f}"] for c in ranked[:top]],
            [False, True, True],
        )
        ranked_families = own_time_by_family(costs)
        lines.append(
            "own time by package (standard-library modules booked to the package that imported them):"
        )
        lines += table(
            ["package", "ms", "share"],
            [[name, f"{us / 1000:.0f}", f"{us / max(1, total):.0%}"] for name, us in ranked_families[:10]],
            [False, True, True],
        )
        lines.append("")
    return lines


if __name__ == "__main__":  # a quick look: python -m bench.cold_start [rounds]
    outcome = run(int(sys.argv[1]) if len(sys.argv) > 1 else 3, 1)
    print("\n".join(report(outcome) + report_importtime(outcome)))
