"""The benchmarks stay runnable (issue 30: `make bench` crashed for weeks and nothing said so).

`make bench-quick` (CI) runs every bench; these checks are the cheap part of it, run by `make test`:
every bench is in the one list `make bench` and `make bench-quick` run, each can run as a module with
`--quick` and `--doc`, every handler's cold-start settings are in the environments the benches import
them with, and a bench's section of docs/performance.md replaces only itself.
"""

import ast
from pathlib import Path

import pytest

from bench import all as every_bench
from bench import cold_start, doc
from deploy.placeholder_settings import PLACEHOLDER_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
# Modules of bench/ with a main() that `make bench` does not run, and why.
BY_HAND = {
    "all": "the runner itself",
    "cold_imports": "compares two revisions' imports (--against), by hand: no section of its own",
}


def _source(name: str) -> ast.Module:
    return ast.parse((ROOT / "bench" / f"{name}.py").read_text(encoding="utf-8"))


def _options(tree: ast.Module) -> set[str]:
    return {
        str(node.args[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_argument"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def _runs_as_module(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
        for node in tree.body
    )


def test_every_bench_with_a_main_is_run_by_make_bench() -> None:
    with_main = {
        path.stem
        for path in (ROOT / "bench").glob("*.py")
        if any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in _source(path.stem).body)
    }
    listed = {bench.name for bench in every_bench.benches()}
    assert with_main - set(BY_HAND) == listed


@pytest.mark.parametrize("name", sorted(b.name for b in every_bench.benches()))
def test_a_bench_runs_as_a_module_with_quick_and_doc(name: str) -> None:
    tree = _source(name)
    assert _runs_as_module(tree), f"python -m bench.{name} would do nothing"
    assert {"--quick", "--doc"} <= _options(tree)


def _required_settings() -> dict[str, list[str]]:
    """Each function's `load_settings(...)` arguments at import (`"a|b"`: one of them), and what
    USER_ROUTE adds."""
    from mediagen.core.settings import USER_ROUTE

    required: dict[str, list[str]] = {}
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        names: list[str] = []
        for node in ast.walk(ast.parse(app.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "load_settings":
                for argument in node.args:
                    if isinstance(argument, ast.Constant):
                        names.append(str(argument.value))
                    elif isinstance(argument, ast.Starred):
                        names += USER_ROUTE
        required[app.parent.name] = names
    return required


def test_the_functions_load_settings_calls_are_found() -> None:
    required = _required_settings()
    assert required["generate"] and required["clerk_webhook"]  # the parse is not vacuous


@pytest.mark.parametrize(
    "environment",
    [PLACEHOLDER_SETTINGS, cold_start.lambda_like_environment("")],
    ids=["placeholders", "cold start bench"],
)
def test_every_handler_finds_its_settings_in_the_benches_environments(environment: dict[str, str]) -> None:
    missing = {
        function: [names for names in required if not any(n.upper() in environment for n in names.split("|"))]
        for function, required in _required_settings().items()
    }
    assert {f: m for f, m in missing.items() if m} == {}


def test_a_section_replaces_only_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "performance.md"
    monkeypatch.setenv(doc.DOC_VARIABLE, str(page))
    start, end = "<!-- a:start -->", "<!-- a:end -->"
    page.write_text(f"# Title\n\nby hand\n\n{start}\nold\n{end}\n\nafter, by hand\n", encoding="utf-8")
    doc.write_section(start, end, f"{start}\n| n |\n| 7 |\n{end}\n")
    assert page.read_text(encoding="utf-8") == (
        f"# Title\n\nby hand\n\n{start}\n| n |\n| 7 |\n{end}\n\nafter, by hand\n"
    )
    doc.write_section(
        "<!-- b:start -->", "<!-- b:end -->", "<!-- b:start -->\n```\n 1  2\n```\n<!-- b:end -->"
    )
    text = page.read_text(encoding="utf-8")
    assert text.endswith("after, by hand\n\n<!-- b:start -->\n```\n 1  2\n```\n<!-- b:end -->\n")
    assert every_bench.has_figures(doc.section_of(text, start, end))
    assert every_bench.has_figures(doc.section_of(text, "<!-- b:start -->", "<!-- b:end -->"))


def test_a_section_without_a_number_in_a_table_has_no_figures() -> None:
    assert not every_bench.has_figures(None)
    assert not every_bench.has_figures("\n## 7. Title with 7\n\nprose with 3 numbers\n| flow | seconds |\n")
