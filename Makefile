# VPCTracker — `make help` lists the targets. Every target creates .venv itself.
# Python 3.11: python3.11 if installed under that name, else python3.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV   := .venv
BIN    := $(VENV)/bin
# Re-install when pyproject.toml changes; a stamp per extra.
STAMP_DEMO := $(VENV)/.stamp-demo
STAMP_DEV  := $(VENV)/.stamp-dev

.DEFAULT_GOAL := help
DYNALITE   := .cache/dynalite/node_modules/dynalite/cli.js
# The AWS CLI from PyPI, apart from .venv (it pins its own botocore): tests run the documented
# deployment commands with it.
AWSCLI     := .cache/awscli/bin/aws
# The oldest boto3 pyproject.toml allows, with the botocore released beside it, apart from
# .venv: the requests the cut data builds are checked against its own (make test-oldest).
OLDEST_BOTO3 := $(shell sed -n 's/^ *"boto3>=\([0-9.]*\)",.*/\1/p' pyproject.toml)
OLDEST       := .cache/oldest-boto3
STAMP_OLDEST := $(OLDEST)/.stamp
SEEDS    ?= 101
DURATION ?= 0
SOAK_ACCOUNTS ?= 50
# make test: pytest processes (pytest-xdist), by default one per CPU; 0 runs in one process.
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 1)
# make package: where it builds and where the zip goes (tests build apart, in their own).
BUILD ?= build
DIST  ?= dist
# make bench: no arguments = the suite of target configurations; any of these = one run.
ACCOUNTS ?=
REGIONS  ?= 17
VPCS     ?= 1-2
LATENCY  ?= 0.1
WORKERS  ?= 64
STAMP_BENCH := $(VENV)/.stamp-bench

.PHONY: help demo test test-oldest check lint typecheck unit soak dynalite awscli package wheel scan-model bench bench-plot report-screenshot clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 22

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "need Python 3.11 (python3.11 or python3 on PATH)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "need Python >= 3.11, $(PYTHON) is older (make PYTHON=/path/to/python3.11 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP_DEMO): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[demo]'
	@touch $@

$(STAMP_DEV): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@ $(STAMP_DEMO)

demo: $(STAMP_DEMO) ## run the real pipeline on a simulated organization (moto, no AWS)
	$(BIN)/vpctracker demo

lint: $(STAMP_DEV) ## ruff lint + format check
	$(BIN)/ruff check collector tests bench scripts
	$(BIN)/ruff format --check collector tests bench scripts

typecheck: $(STAMP_DEV) ## mypy (strict on collector/ and bench/)
	$(BIN)/mypy

# tests/unit/test_scan_model.py compares the files with the installed botocore.
scan-model: $(STAMP_DEMO) ## rewrite botocore's data cut to what the tool calls, after a botocore upgrade
	$(BIN)/python -m scripts.scan_model

unit: $(STAMP_DEV) ## the fast unit tests only
	$(BIN)/pytest -q tests/unit

# dynalite (an independent DynamoDB, from npm) for the contract tests; skipped without Node.js.
$(DYNALITE):
	@if command -v npm >/dev/null 2>&1; then \
	  mkdir -p .cache/dynalite && npm install --no-audit --no-fund --silent \
	    --prefix .cache/dynalite dynalite@4.0.0; \
	else echo "npm not found: the dynalite contract tests will be skipped"; fi

dynalite: $(DYNALITE) ## install dynalite into .cache/dynalite (needs Node.js)

$(AWSCLI): | $(VENV)/bin/python
	$(PYTHON) -m venv .cache/awscli
	.cache/awscli/bin/pip install -q 'awscli>=1.36,<2'

awscli: $(AWSCLI) ## install the AWS CLI (PyPI) into .cache/awscli for the docs' commands test

test: lint typecheck $(STAMP_DEV) $(DYNALITE) $(AWSCLI) $(STAMP_OLDEST) ## lint, types and the whole test suite (slow marker included)
	$(BIN)/pytest -q -n $(TEST_WORKERS)
	@$(MAKE) --no-print-directory test-oldest

$(STAMP_OLDEST): pyproject.toml | $(VENV)/bin/python
	@test -n "$(OLDEST_BOTO3)" || { echo "no boto3>= in pyproject.toml"; exit 1; }
	rm -rf $(OLDEST)
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/pip install -q 'boto3==$(OLDEST_BOTO3)' 'botocore==$(OLDEST_BOTO3)' 'pytest>=8' -e .
	@touch $@

# Without tests/conftest.py (its moto needs a newer botocore), so without its environment.
test-oldest: $(STAMP_OLDEST) ## the cut data's requests on the oldest boto3 and botocore allowed
	env -u AWS_PROFILE -u AWS_ENDPOINT_URL -u AWS_DATA_PATH -u AWS_USE_FIPS_ENDPOINT \
	  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
	  $(OLDEST)/bin/python -m pytest -q --noconftest -p no:cacheprovider tests/unit/test_cut_requests.py

soak: $(STAMP_DEV) ## fault soak: make soak SEEDS="1 2 3" DURATION=600 SOAK_ACCOUNTS=50
	VPCTRACKER_SOAK_SEEDS="$(SEEDS)" VPCTRACKER_SOAK_SECONDS="$(DURATION)" \
	VPCTRACKER_SOAK_ACCOUNTS="$(SOAK_ACCOUNTS)" VPCTRACKER_SOAK_REPORT=soak-report.json \
	  $(BIN)/pytest -q tests/reliability/test_soak.py
	@cat soak-report.json

check: test ## alias of test

$(STAMP_BENCH): pyproject.toml | $(STAMP_DEMO)
	$(BIN)/pip install -q -e '.[demo,bench]'
	@touch $@

bench: $(STAMP_BENCH) ## steady-state benchmark vs the physical bound and baselines (docs/benchmarks.md); or ACCOUNTS=N [REGIONS VPCS LATENCY WORKERS BASELINE=1]
ifeq ($(ACCOUNTS),)
	$(BIN)/python -m bench.run --suite --accounts 1000 --workers $(WORKERS)
else
	$(BIN)/python -m bench.run --accounts $(ACCOUNTS) --regions $(REGIONS) --vpcs $(VPCS) \
	  --latency $(LATENCY) --workers $(WORKERS) $(if $(BASELINE),--baseline,) --analysis
endif

bench-plot: $(STAMP_BENCH) ## regenerate docs/benchmarks.png (100 to 3,000 accounts; ~8 min)
	$(BIN)/python -m bench.run --sweep 100,300,1000,3000 --regions $(REGIONS) \
	  --latency $(LATENCY) --workers $(WORKERS) --plot docs/benchmarks.png

report-screenshot: $(STAMP_DEMO) ## regenerate docs/report-screenshot.png from the demo (needs chromium)
	$(BIN)/vpctracker demo > /dev/null
	chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	  --disable-background-networking --disable-component-update --disable-sync \
	  --user-data-dir="$$(mktemp -d)" --hide-scrollbars --window-size=1280,1500 \
	  --screenshot=docs/report-screenshot.png "file://$(CURDIR)/demo-report.html"

# Lambda zip for the python3.13 runtime (AL2023; scripts/lambda_zip.py RUNTIME): runtime
# dependencies only, as manylinux x86_64 CPython 3.13 wheels whatever the build machine, pinned
# to the versions installed in .venv (what the tests ran against). Byte code is compiled by a
# CPython 3.13 (LAMBDA_PYTHON: pyenv's 3.13, or python3.13 on PATH) because Lambda's /var/task is
# read-only: without it every cold start would compile botocore again; unchecked-hash pycs are
# valid whatever the unzipped files' times. The zip is content-addressed:
# dist/vpctracker-lambda-<hash>.zip, printed on the last line. The wheel is built from a copy of
# the sources in $(BUILD)/src, so setuptools' own build/ and egg-info land there, not in the
# checkout: builds with their own BUILD and DIST can run side by side.
LAMBDA_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13 /root/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null))
package: $(STAMP_DEMO) ## build dist/vpctracker-lambda-<hash>.zip for the hub stack (prints its path)
	@test -n "$(LAMBDA_PYTHON)" && "$(LAMBDA_PYTHON)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' || \
	  { echo "make package needs CPython 3.13 (the Lambda runtime) for its byte code: python3.13 on PATH, or LAMBDA_PYTHON=/path/to/python3.13"; exit 1; }
	rm -rf $(BUILD)/lambda $(DIST)/vpctracker-lambda*.zip
	@$(MAKE) --no-print-directory wheel
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e ' > $(BUILD)/constraints.txt
	$(BIN)/pip install -q --no-compile --target $(BUILD)/lambda -c $(BUILD)/constraints.txt \
	  --platform manylinux2014_x86_64 --implementation cp --python-version 3.13 \
	  --only-binary=:all: $(BUILD)/wheel/vpctracker-*.whl
	rm -rf $(BUILD)/lambda/bin
	# Where the wheel was built (path and hash of a zip with timestamps) is not content.
	rm -f $(BUILD)/lambda/vpctracker-*.dist-info/direct_url.json
	sed -i '/direct_url.json/d' $(BUILD)/lambda/vpctracker-*.dist-info/RECORD
	# Byte code names its source as Lambda will see it (/var/task), not where it was built.
	"$(LAMBDA_PYTHON)" -m compileall -q -j 0 --invalidation-mode unchecked-hash \
	  -s $(BUILD)/lambda -p /var/task $(BUILD)/lambda
	@$(BIN)/python scripts/lambda_zip.py $(BUILD)/lambda $(DIST)

# What the wheel is built from, copied to $(BUILD)/src (a file the package needs is added here).
PACKAGE_SOURCES := pyproject.toml README.md collector
WHEEL_FLAGS ?= -q
wheel: $(STAMP_DEMO) ## build the vpctracker wheel into $(BUILD)/wheel, from a copy of its sources
	rm -rf $(BUILD)/wheel $(BUILD)/src
	mkdir -p $(BUILD)/src
	cp -R $(PACKAGE_SOURCES) $(BUILD)/src/
	$(BIN)/pip wheel $(WHEEL_FLAGS) --no-deps -w $(BUILD)/wheel $(BUILD)/src

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .cache build dist .pytest_cache .mypy_cache .ruff_cache *.egg-info
