"""The lowest Python version the project claims (pyproject.toml's requires-python), checked by CI with
that interpreter: every file of the layer, the functions, deploy/ and local/ compiles, and every module of the
layer and every handler imports, with the layer's own requirements only (as in Lambda).

    make python-min-check      # finds python3.12, makes .venv-min, runs this
"""

import importlib
import sys
from pathlib import Path

from deploy.placeholder_settings import apply_placeholders

ROOT = Path(__file__).resolve().parents[2]
COMPILED = ("layers/shared", "functions", "deploy", "local", "migration", "bench", "tests")


def main() -> int:
    sys.dont_write_bytecode = True  # nothing written into the tree
    failures = []
    for folder in COMPILED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            try:
                compile(path.read_bytes(), str(path), "exec")
            except SyntaxError as error:
                failures.append(f"{path.relative_to(ROOT)}: {error}")
    # What a deployed function is given (the handlers check their settings at import, as at a cold
    # start); placeholders: nothing is called.
    apply_placeholders()
    layer = ROOT / "layers/shared"
    modules = [
        ".".join(p.relative_to(layer).with_suffix("").parts).removesuffix(".__init__")
        for p in sorted((layer / "mediagen").rglob("*.py"))
    ]
    modules += [f"{p.parent.name}.app" for p in sorted((ROOT / "functions").glob("*/app.py"))]
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as error:
            failures.append(f"import {module}: {type(error).__name__}: {error}")
    version = ".".join(map(str, sys.version_info[:3]))
    if failures:
        print(f"Python {version}: {len(failures)} problem(s)", *failures, sep="\n  ", file=sys.stderr)
        return 1
    print(f"Python {version}: {len(modules)} modules import, every file compiles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
