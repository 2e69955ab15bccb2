"""The boundaries of the code, checked on its syntax tree (so a violation fails, whatever its spelling):
- the environment is read by mediagen.core.settings alone;
- PynamoDB conditions and update actions are built by the data-access modules alone;
- HTTP answers (statuses, Powertools responses and HTTP exceptions) come from mediagen.edge.api alone;
  mediagen.core.errors defines the domain's errors, without statuses;
- the domain does not import views (jobs does not import the status view);
- the layer's modules import each other without a cycle, imports inside functions included.
Each checker is also run on a small violating source, to show it can fail.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared" / "mediagen"
FUNCTIONS = ROOT / "functions"
# The layer's tiers, lowest first: a module imports its own tier and the tiers below it, never above.
TIERS = ("core", "contract", "data", "outbound", "rules", "edge")
SETTINGS = {"core/settings.py"}
# The `$default` route's function imports the standard library only, not the layer (20 ms of cold start
# instead of about a second for every request no route matches): it reads its one variable, API_ROUTES,
# itself (docs/architecture.md, "Deployment decisions").
STANDALONE = {FUNCTIONS / "unknown_route" / "app.py"}
DATA_ACCESS = {
    f"data/{name}.py"
    for name in (
        "job_store",
        "jobs",
        "deliveries",
        "jobs_in_flight",
        "dispatch_lease",
        "library_index",
        "tombstones",
        "notifications",
        "erased_people",
    )
}
HTTP_MODULES = {"edge/api.py"}
MODELS = {"Generation", "Notification", "GeneratedFile", "UserJobsInFlight"}
# What a handler may import from Powertools' event handler: routing and route metadata, not answers.
ROUTING_NAMES = {
    "APIGatewayHttpResolver",
    "APIGatewayHttpRouter",
    "AppSyncEventsResolver",
    "OpenAPIResponse",
    "Response",
}
EXPRESSION_METHODS = {
    "exists",
    "does_not_exist",
    "is_in",
    "between",
    "startswith",
    "contains",
    "is_type",
    "set",
    "remove",
    "add",
    "delete",
    "append",
    "prepend",
}


def production_files() -> Iterator[Path]:
    yield from sorted(LAYER.rglob("*.py"))
    yield from sorted(FUNCTIONS.glob("*/app.py"))


def tree_of(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def environment_reads(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        reads_os = (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv", "environb", "putenv")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        )
        imports_os = (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in ("environ", "getenv", "environb") for alias in node.names)
        )
        if reads_os or imports_os:
            lines.append(getattr(node, "lineno", 0))
    return lines


def _is_model_attribute(node: ast.AST) -> bool:
    """`Generation.status`, `Notification.read`, ... (a model's attribute, as PynamoDB expressions use)."""
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in MODELS


def _is_expression(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").startswith("pynamodb.expressions")
    if isinstance(node, ast.Call):
        func = node.func
        return (
            isinstance(func, ast.Attribute)
            and func.attr in EXPRESSION_METHODS
            and _is_model_attribute(func.value)
        )
    if isinstance(node, ast.Compare):
        return any(_is_model_attribute(operand) for operand in [node.left, *node.comparators])
    if isinstance(node, ast.BinOp):  # if_not_exists: Generation.x | default
        return isinstance(node.op, ast.BitOr) and _is_model_attribute(node.left)
    if isinstance(node, ast.keyword):
        return node.arg in ("condition", "actions")
    return False


def expressions(tree: ast.AST) -> list[int]:
    return [getattr(node, "lineno", 0) or 1 for node in ast.walk(tree) if _is_expression(node)]


def _is_http_answer(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        names = {alias.name for alias in node.names}
        if module.startswith("aws_lambda_powertools.event_handler.events_appsync"):
            return False  # AppSync Events (live progress): not HTTP, its refusal is not an HTTP status
        return module.startswith("aws_lambda_powertools.event_handler") and (
            module.endswith("exceptions") or bool(names - ROUTING_NAMES)
        )
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id == "Response"
    if isinstance(node, ast.keyword):
        return (
            node.arg in ("status", "status_code", "http_status")
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, int)
        )
    if isinstance(node, ast.Assign):
        names_status = any("status" in ast.unparse(target) for target in node.targets)
        return names_status and bool(statuses_in(node.value))
    return False


def http_answers(tree: ast.AST) -> list[int]:
    """Powertools responses or HTTP exceptions, and HTTP statuses given to anything."""
    return [getattr(node, "lineno", 0) or 1 for node in ast.walk(tree) if _is_http_answer(node)]


def statuses_in(tree: ast.AST) -> list[int]:
    return [
        getattr(node, "lineno", 0) or 1
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and type(node.value) is int and 100 <= node.value < 600
    ]


def violations(check: object, allowed: set[str]) -> dict[str, list[int]]:
    found = {}
    for path in production_files():
        if path.is_relative_to(LAYER) and path.relative_to(LAYER).as_posix() in allowed:
            continue
        lines = check(tree_of(path))  # type: ignore[operator]
        if lines:
            found[str(path.relative_to(ROOT))] = lines
    return found


def test_only_the_settings_module_reads_the_environment() -> None:
    found = violations(environment_reads, SETTINGS)
    assert {str(path.relative_to(ROOT)) for path in STANDALONE} <= set(found)  # it does read API_ROUTES
    assert {name: lines for name, lines in found.items() if ROOT / name not in STANDALONE} == {}


def test_only_data_access_builds_dynamodb_expressions() -> None:
    assert violations(expressions, DATA_ACCESS) == {}


def test_only_api_makes_http_answers() -> None:
    assert violations(http_answers, HTTP_MODULES) == {}


def test_domain_errors_carry_no_http_status() -> None:
    assert statuses_in(tree_of(LAYER / "core" / "errors.py")) == []


def test_the_status_view_is_made_by_handlers_not_by_jobs() -> None:
    imports = {module for _, module in mediagen_imports(tree_of(LAYER / "rules" / "jobs.py"))}
    assert "mediagen.rules.views" not in imports


def mediagen_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every `mediagen...` import."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("mediagen")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mediagen"):
            found.append((node.lineno, node.module or ""))
    return found


def tier_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "mediagen" and parts[1] in TIERS else None


def upward_imports(own_tier: str, tree: ast.AST) -> list[str]:
    """The imports that reach a higher tier than `own_tier`, or a module outside every tier."""
    found = []
    for line, module in mediagen_imports(tree):
        target = tier_of(module)
        if target is None or TIERS.index(target) > TIERS.index(own_tier):
            found.append(f"{line}: {module}")
    return found


def test_every_layer_module_is_in_a_tier() -> None:
    loose = [p.name for p in LAYER.glob("*.py") if p.name != "__init__.py"]
    assert loose == [], f"modules outside the tiers {TIERS}: {loose}"
    folders = sorted(p.name for p in LAYER.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders == sorted(TIERS)


def test_the_tiers_import_downwards_only() -> None:
    found = {
        str(path.relative_to(ROOT)): lines
        for path in sorted(LAYER.rglob("*.py"))
        if path.parent != LAYER and (lines := upward_imports(path.relative_to(LAYER).parts[0], tree_of(path)))
    }
    assert found == {}


def import_graph(layer: Path = LAYER) -> dict[str, set[str]]:
    """Each layer module and the layer modules it imports, anywhere in it (inside functions too: an
    import deferred to call time still ties the two modules together)."""
    paths = {
        ".".join(("mediagen", *path.relative_to(layer).with_suffix("").parts)): path
        for path in layer.rglob("*.py")
        if path.name != "__init__.py"
    }
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets: set[str] = set()
        for node in ast.walk(tree_of(path)):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = (targets & paths.keys()) - {name}
    return graph


def a_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of the graph, as the path that closes it (empty: there is none)."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str]:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return []
        for target in sorted(graph.get(module, ())):
            if cycle := visit(target, [*path, module]):
                return cycle
        done.add(module)
        return []

    for module in sorted(graph):
        if cycle := visit(module, []):
            return cycle
    return []


def test_the_layer_has_no_import_cycle() -> None:
    assert a_cycle(import_graph()) == []


def test_the_cycle_check_finds_a_cycle_through_a_deferred_import() -> None:
    assert a_cycle({"library": {"access"}, "access": {"library"}}) == ["access", "library", "access"]
    assert a_cycle({"library": {"access", "retention"}, "access": {"retention"}, "retention": set()}) == []


@pytest.mark.parametrize(
    ("tier", "source"),
    [
        ("rules", "from mediagen.edge.auth import authenticate"),
        ("data", "from mediagen.rules import jobs"),
        ("core", "import mediagen.contract.payloads"),
        ("contract", "from mediagen import payloads"),
    ],
)
def test_the_tier_check_finds_an_upward_import(tier: str, source: str) -> None:
    assert upward_imports(tier, ast.parse(source))
    assert upward_imports("edge", ast.parse("from mediagen.core.settings import settings")) == []


@pytest.mark.parametrize(
    ("check", "source"),
    [
        (environment_reads, "import os\nx = os.environ.get('A')"),
        (environment_reads, "from os import getenv\nx = getenv('A')"),
        (expressions, "x = Generation.status == 'queued'"),
        (expressions, "x = Generation.job_id.does_not_exist()"),
        (expressions, "x = [Generation.progress.set(Generation.progress | 0)]"),
        (expressions, "from pynamodb.expressions.condition import Condition"),
        (expressions, "item.update(actions=a)"),
        (http_answers, "from aws_lambda_powertools.event_handler.exceptions import NotFoundError"),
        (http_answers, "return Response(status_code=404, body='')"),
        (http_answers, "raise Problem('no', status=409)"),
        (http_answers, "class E(Exception):\n    status, code = 404, 'x'"),
        (statuses_in, "class E(Exception):\n    status = 503"),
    ],
)
def test_each_checker_finds_a_violation(check: object, source: str) -> None:
    assert check(ast.parse(source))  # type: ignore[operator]
