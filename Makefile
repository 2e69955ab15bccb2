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

$(VENV)/.installed: pyproject.toml kits/sender/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "Python >= 3.12 needed (3.13 preferred): $(PYTHON) is " + sys.version.split()[0])'
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' -e ./kits/sender
	@touch $@

test: venv
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy layers/shared functions infra tests bench migration kits/sender

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

.PHONY: demo token openapi frontend-types events monitoring template-check clean-tools

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
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory frontend-types; \
	else echo "npm missing: run make frontend-types where it is"; fi

# The front-end kit's TypeScript types, from openapi.json (kits/frontend, pinned by its lock file).
frontend-types: kits/frontend/node_modules/.package-lock.json
	cd kits/frontend && npm run --silent generate

kits/frontend/node_modules/.package-lock.json: kits/frontend/package-lock.json
	cd kits/frontend && npm ci --no-audit --no-fund

events: venv
	PYTHONPATH=$(SRC_PATH) $(PY) -m infra.events $(if $(TABLES_FROM),--tables-from $(TABLES_FROM))

# The monitoring nested stack (alarms, dashboard), from infra/monitoring.py and template.yaml.
monitoring: venv
	PYTHONPATH=$(SRC_PATH) $(PY) -m infra.monitoring

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
	$(TOOLS)/bin/cfn-lint template.yaml infra/monitoring.yaml
	$(SAM) validate --lint --region us-east-1
	$(SAM) build --region us-east-1
	$(PY) -m infra.check_arm64 .aws-sam/build
	$(PY) -m infra.check_build .aws-sam/build
	PYTHONPATH=$(SRC_PATH) $(PY) -m infra.events
	$(PY) -m infra.check_sam_local $(TOOLS)/bin/sam
	$(MAKE) --no-print-directory checkov pip-audit

clean: clean-tools clean-checks
clean-tools:
	rm -rf $(TOOLS)

clean:
	rm -rf $(VENV) .venv-min .pytest_cache .mypy_cache .ruff_cache .aws-sam

bench: venv
	$(PY) -m bench.run

# --- Deployment (docs/deploy.md) ---------------------------------------------------------------------
# checkov (with the reviewed skips of .checkov.yaml) and pip-audit (the layer's pins against PyPI's
# vulnerability data), from their own virtualenv: they pin their own dependencies too.
CHECKS := .checks-venv
ENV ?= dev
DEPLOY := PYTHONPATH=$(SRC_PATH) $(PY) -m infra.deploy

.PHONY: checkov pip-audit deploy deploy-check api-url webhook-secret generator-api-key stack-outputs smoke clean-checks

$(CHECKS)/.installed: .ci/checks-requirements.txt
	@[ -x $(CHECKS)/bin/python ] || $(PYTHON) -m venv $(CHECKS)
	$(CHECKS)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKS)/bin/python -m pip install --quiet -r .ci/checks-requirements.txt
	@touch $@

checkov: $(CHECKS)/.installed
	BC_SKIP_MAPPING=TRUE $(CHECKS)/bin/checkov --config-file .checkov.yaml

pip-audit: $(CHECKS)/.installed
	PYTHONPATH=. $(CHECKS)/bin/python -m infra.audit_layer layers/shared/requirements.txt

# Deploy ENV (dev or prod), docs/deploy.md. First the checks (credentials, region, tools: seconds, one
# line per problem) and, the first time only, the template's parameters, asked and saved in samconfig.toml
# [ENV] (SAMCONFIG names another file); then SAM CLI, the build (layer and functions with their bytecode,
# checked) and `sam deploy` with the saved answers: never --guided, so nothing is asked again.
deploy: venv
	@$(DEPLOY) prepare --env $(ENV)
	@$(MAKE) --no-print-directory $(TOOLS)/.installed
	$(SAM) build
	$(PY) -m infra.check_build .aws-sam/build
	$(SAM) deploy --config-env $(ENV) $$($(DEPLOY) sam-deploy-args --env $(ENV))

# The checks of `make deploy` alone: credentials (STS), region, tools; nothing built, asked or changed.
deploy-check: venv
	@$(DEPLOY) check --env $(ENV)

# One command each: what the front end and the generation backend's team need from a stack.
api-url: venv
	@$(DEPLOY) api-url --env $(ENV)
webhook-secret: venv
	@$(DEPLOY) webhook-secret --env $(ENV)
generator-api-key: venv
	@$(DEPLOY) generator-api-key --env $(ENV)
stack-outputs: venv
	@$(DEPLOY) outputs --env $(ENV)

# The front end's flow, checked: bare `make smoke` against `make run` (its development key and secret, on
# PORT); `make smoke API_URL=https://...` against a deployment (WEBHOOK_SECRET and SMOKE_TOKEN from the
# environment), or `make smoke ENV=dev` against that environment's stack (its URL and webhook secret read
# from AWS, region as every deploy command; SMOKE_TOKEN: a test user's Clerk token, docs/deploy.md).
SMOKE_ENV := $(if $(filter command line,$(origin ENV)),--env $(ENV))
smoke: venv
	PYTHONPATH=$(SRC_PATH) $(PY) -m infra.smoke $(SMOKE_ENV)

clean-checks:
	rm -rf $(CHECKS)
