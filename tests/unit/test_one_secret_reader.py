"""One reader of the stack's secrets: no module of the layer or of a function reads Secrets Manager (or
Powertools' parameters, which read it with their own cache) but mediagen/outbound/secrets.py, so every
secret follows its one caching rule (tests/integration/test_secret_rotation.py)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READER = ROOT / "layers" / "shared" / "mediagen" / "outbound" / "secrets.py"
SECRET_CALLS = {"get_secret", "get_secret_value", "batch_get_secret_value", "get_secrets_by_name"}


def secret_reads(tree: ast.AST) -> list[str]:
    """What in `tree` reads a secret by itself: a call named like Secrets Manager's or Powertools'
    reads, a Secrets Manager client, an import of Powertools' parameters."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name):
            name = node.attr if isinstance(node, ast.Attribute) else node.id
            if name in SECRET_CALLS:
                found.append(name)
        elif isinstance(node, ast.Constant) and node.value == "secretsmanager":
            found.append("a secretsmanager client")
        elif isinstance(node, ast.ImportFrom | ast.Import):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            modules += [
                f"{node.module}.{alias.name}" if isinstance(node, ast.ImportFrom) else alias.name
                for alias in node.names
            ]
            found += [m for m in modules if m.startswith("aws_lambda_powertools.utilities.parameters")]
    return found


def production_modules() -> list[Path]:
    return sorted((ROOT / "layers" / "shared").rglob("*.py")) + sorted((ROOT / "functions").rglob("*.py"))


def test_only_the_secret_reader_reads_secrets_manager() -> None:
    readers = {
        str(path.relative_to(ROOT)): found
        for path in production_modules()
        if path != READER and (found := secret_reads(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert readers == {}


def test_the_check_finds_a_secret_read_by_itself() -> None:
    for source in (
        "from aws_lambda_powertools.utilities import parameters\nparameters.get_secret('x')",
        "from aws_lambda_powertools.utilities.parameters import get_secret",
        "import boto3\nboto3.client('secretsmanager').get_secret_value(SecretId='x')",
    ):
        assert secret_reads(ast.parse(source)), source
    assert secret_reads(ast.parse(READER.read_text(encoding="utf-8")))
    assert not secret_reads(ast.parse("from mediagen.outbound.secrets import secret_value"))
