"""`deploy/` and `local/` do not import each other: what both need of the stack is in `deploy/base/` (the
shared base: template readers, intrinsics, AWS's events, the development keys), which imports neither
(docs/architecture.md, "The map"). Checked on the syntax tree of every module, so that an import inside
a function, `from deploy import cli` or `importlib.import_module("local...")` is seen as well. Each rule
is also run on a small violating source, to show it can fail.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE = "deploy.base"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, package: str) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything a module imports: `from a import b` gives `a.b` (b may be a
    module), a relative import is made absolute against `package`, and a constant given to
    `importlib.import_module` or `__import__` counts too."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*anchor, module] if module else anchor)
            yield from ((node.lineno, f"{module}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def crossings(module: str, tree: ast.AST, package: str | None = None) -> list[str]:
    """The imports of `module` that cross the boundary: local -> deploy outside its base, deploy -> local,
    or the base -> anything of deploy/ outside it. `package`: the module's package (its parent, unless
    it is a package's `__init__`)."""
    package = package or module.rsplit(".", 1)[0]
    found = []
    for line, name in imported(tree, package):
        if within(module, "local"):
            crossing = within(name, "deploy") and not within(name, BASE)
        elif within(module, BASE):
            crossing = within(name, "local") or (within(name, "deploy") and not within(name, BASE))
        else:
            crossing = within(module, "deploy") and within(name, "local")
        if crossing:
            found.append(f"{line}: {name}")
    return found


def modules() -> Iterator[tuple[str, Path]]:
    for folder in ("deploy", "local"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "node_modules" not in path.parts:
                yield module_name(path), path


def tree_of(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


def test_deploy_and_local_import_each_other_only_through_the_base() -> None:
    checked = dict(modules())
    assert {"deploy.cli", "deploy.base.cfn_template", "local.emulator.server"} <= set(checked)
    found = {
        module: lines
        for module, path in checked.items()
        if (lines := crossings(module, tree_of(path), package_of(module, path)))
    }
    assert found == {}


def test_both_sides_use_the_base() -> None:
    """The base is what both import (were one side to stop, it would belong to the other)."""
    users = {
        module.split(".")[0]
        for module, path in modules()
        if not within(module, BASE)
        and any(within(name, BASE) for _, name in imported(tree_of(path), package_of(module, path)))
    }
    assert users == {"deploy", "local"}


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("local.emulator.stack", "from deploy.cli import main"),
        ("local.emulator.stack", "from deploy import permissions"),
        ("local.harness.aws_calls", "def f():\n    import deploy.events"),
        ("local.emulator.server", "import importlib\nimportlib.import_module('deploy.smoke')"),
        ("deploy.smoke", "from local.emulator import server"),
        ("deploy.events", "import local.harness.parties"),
        ("deploy.base.intrinsics", "from local.harness import sources"),
        ("deploy.base.cfn_functions", "from deploy.permissions import resource_arn"),
        ("deploy.base.cfn_functions", "from .. import cli"),
    ],
)
def test_the_check_finds_a_crossing(module: str, source: str) -> None:
    assert crossings(module, ast.parse(source))


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("local.emulator.stack", "from deploy.base.cfn_template import load_template"),
        ("local.emulator.server", "from deploy.base import devkeys"),
        ("deploy.smoke", "from deploy.base import devkeys"),
        ("deploy.base.cfn_functions", "from .cfn_template import load_template"),
        ("deploy.permissions", "from deploy.base.arns import resource_ref"),
    ],
)
def test_the_check_lets_the_base_through(module: str, source: str) -> None:
    assert crossings(module, ast.parse(source)) == []
