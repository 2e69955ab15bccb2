"""The queue consumers' cold start does not import the parser's every event model (80-94 ms): Powertools'
batch utility imports them when pydantic is already imported, so each consumer imports it first
(docs/architecture.md, "SQS records"). Checked in a fresh process, as Lambda imports a handler."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARSER = "aws_lambda_powertools.utilities.parser"


def parser_imported(statement: str) -> bool:
    """Whether `statement`, run in a fresh interpreter with the layer and the functions on its path (and
    this session's function settings), imports the parser's models."""
    probe = f"import sys\n{statement}\nprint(any(m.startswith({PARSER!r}) for m in sys.modules))"
    path = os.pathsep.join(str(ROOT / part) for part in ("layers/shared", "functions"))
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,  # a cold import takes about a second; 120 s on the slowest machine under load
    )
    return result.stdout.strip() == "True"


@pytest.mark.parametrize("consumer", ["dispatch", "erasure", "remove_files"])
def test_a_queue_consumer_imports_no_parser_model(consumer: str) -> None:
    assert not parser_imported(f"import {consumer}.app")


def test_the_probe_sees_the_parser_imported_after_pydantic() -> None:
    assert parser_imported("import pydantic\nimport aws_lambda_powertools.utilities.batch")
