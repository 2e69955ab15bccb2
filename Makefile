# Every target creates what it needs on first use: a fresh machine only needs Python 3.13 (pyenv, from
# .python-version) or, failing that, any python3 >= 3.12 (the code uses 3.12 syntax).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Where the handlers and the shared layer are imported from, as in Lambda (no sys.path edits in code).
SRC_PATH := layers/shared:functions:.
# USER is also the login name: only a USER given on the command line names the token's user.
TOKEN_USER := $(if $(filter command line,$(origin USER)),$(USER),user_1)
PYTHON ?= $(shell command -v python3.13 >/dev/null 2>&1 && python3.13 -c 'import sys' >/dev/null 2>&1 && echo python3.13 || echo python3)

.PHONY: venv test lint typecheck check run clean bench migrate python-min-check

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "Python >= 3.12 needed (3.13 preferred): $(PYTHON) is " + sys.version.split()[0])'
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

test: venv
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy layers/shared functions infra tests bench migration

check: lint typecheck test

# The lowest version claimed (requires-python): the layer and the handlers import under it, with the
# layer's requirements only. pyenv's 3.12, else python3.12 on PATH; none: a clear failure.
PYTHON_MIN := 3.12
python-min-check:
	@py=$$(ls -d $$HOME/.pyenv/versions/$(PYTHON_MIN).*/bin/python$(PYTHON_MIN) 2>/dev/null | tail -1); \
	py=$${py:-$$(command -v python$(PYTHON_MIN) 2>/dev/null)}; \
	if [ -z "$$py" ] || ! "$$py" -c 'import sys' >/dev/null 2>&1; then \
	  echo "python$(PYTHON_MIN) not found (pyenv install $(PYTHON_MIN), or apt-get install python$(PYTHON_MIN)):" \
	    "the lowest claimed version cannot be checked" >&2; exit 1; fi; \
	[ -x .venv-min/bin/python ] || "$$py" -m venv .venv-min; \
	.venv-min/bin/python -m pip install --quiet -r layers/shared/requirements.txt && \
	PYTHONPATH=$(SRC_PATH) .venv-min/bin/python -m infra.check_python_min

.PHONY: demo token openapi events template-check clean-tools

# The whole API on http://127.0.0.1:3000 (PORT to change) with embedded AWS stand-ins (infra/local/server.py).
run: venv
	PYTHONPATH=$(SRC_PATH) exec $(PY) -m infra.local.server

# The old PostgreSQL database into the service (docs/migration.md): make migrate DATABASE_URL=postgresql://...
# [DRY_RUN=1] [TARGET=aws STACK=name] [REPORT=path] [MERGE_WINDOW_MINUTES=30] [VERIFY_FILES=1]. Settings
# reach it as environment variables (make exports command-line variables), never on a command line.
migrate: venv
	PYTHONPATH=$(SRC_PATH) $(PY) -m migration

# The front end's flow against the running service (make run in another terminal).
demo: venv
	PYTHONPATH=$(SRC_PATH) $(PY) -m infra.local.demo

# A token for the development key of `make run`: make token USER=user_1 ORG=org_1
token: venv
	@PYTHONPATH=$(SRC_PATH) $(PY) -m infra.local.devkeys token --user $(TOKEN_USER) $(if $(ORG),--org $(ORG))

# Generated from template.yaml and the payload models; tests check that they are current.
openapi: venv
	PYTHONPATH=$(SRC_PATH) $(PY) -m infra.openapi

events: venv
	PYTHONPATH=$(SRC_PATH) $(PY) -m infra.events

# SAM and CloudFormation checks, from their own virtualenv (they pin their own boto3): cfn-lint,
# sam validate --lint, sam build (for arm64, no container), then every native library built is arm64.
TOOLS := .tools-venv
SAM := SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam

$(TOOLS)/.installed: .ci/tools-requirements.txt
	@[ -x $(TOOLS)/bin/python ] || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r .ci/tools-requirements.txt
	@touch $@

template-check: $(TOOLS)/.installed venv
	$(TOOLS)/bin/cfn-lint template.yaml
	$(SAM) validate --lint --region us-east-1
	$(SAM) build --region us-east-1
	$(PY) -m infra.check_arm64 .aws-sam/build

clean: clean-tools
clean-tools:
	rm -rf $(TOOLS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam

bench: venv
	$(PY) -m bench.run
