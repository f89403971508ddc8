# The README's two commands: `make demo` and `make test`. Both bootstrap .venv from requirements-dev.txt
# (hash-pinned); the stamp file makes a second run skip the install entirely.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_INSTALL = -m pip install -q --disable-pip-version-check

.PHONY: demo test test-fast unit-fast lint typecheck unit workflows-lint bench bench-large bench-huge bench-pacing bench-venv lock install-size clean

$(STAMP): requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python $(PIP_INSTALL) --require-hashes -r requirements-dev.txt
	$(BIN)/python $(PIP_INSTALL) --no-deps --no-build-isolation -e .
	@touch $@

demo: $(STAMP)
	$(BIN)/reconciler demo

test: lint typecheck workflows-lint unit

# The developer loop (docs/TESTING.md): lint, types and the tests not marked `e2e` or `slow` (pyproject.toml).
# CI runs `make test`, which runs every test.
test-fast: lint typecheck unit-fast

lint: $(STAMP)
	$(BIN)/ruff check reconciler tests benchmarks
	$(BIN)/ruff format --check reconciler tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# zizmor on the whole repository: the workflows, .github/actions/ and .github/dependabot.yml
# (settings in .github/zizmor.yml; it skips what .gitignore lists, such as .venv).
workflows-lint: $(STAMP)
	@if ls .github/workflows/*.yml >/dev/null 2>&1; then \
		$(BIN)/actionlint .github/workflows/*.yml && \
		$(BIN)/zizmor --offline --min-severity low .; \
	fi

# pytest exits 5 when it collected nothing; that must fail, and it does because make stops on any non-zero.
unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider

unit-fast: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider -m "not e2e and not slow"

# Benchmarks (benchmarks/RESULTS.md, benchmarks/chart.png). Cloud Custodian pins an older boto3 than
# requirements-dev.txt, so it (and matplotlib, for the chart) gets its own venv from benchmarks/requirements.txt.
BENCH_VENV := benchmarks/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): benchmarks/requirements.txt
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check -r benchmarks/requirements.txt
	@touch $@

bench-venv: $(BENCH_STAMP)

# The regimes (limit-bound, unknown limit at 8, 60 and 200 calls/s, latency-bound) run side by side,
# each with its own emulator (see RESULTS.md).
bench: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python benchmarks/run.py --sizes 1000 --parallel-regimes

# 1,000 and 10,000 repositories; the alternatives are stopped after 10 minutes a run; about 70 minutes.
bench-large: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python benchmarks/run.py --sizes 1000 10000 --parallel-regimes --time-cap 600

# ECR's quota: 100,000 repositories in one registry, at a high limit, reconciler only (RESULTS.md).
bench-huge: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python benchmarks/run.py --huge

# Pacing alone: plan against limits the reconciler is not told, 20 runs each, and the latency-bound plan
# against the serial loop; writes the spread into RESULTS.md's pacing section (about 20 minutes).
bench-pacing: $(STAMP)
	$(BIN)/python benchmarks/pacing.py --runs 20 --repos 240 --seconds 8 --write

# Both locks from pyproject.toml, with uv (in the dev extra): requirements-dev.txt (everything `make test`
# needs) first, then requirements.txt (what the workflows install: the runtime dependencies and the build
# backend, so the project installs with --no-build-isolation) constrained to the same versions.
# --universal: one lock for every platform and Python >= 3.11. Existing pins are kept unless
# `make lock UPGRADE=1`. The build backend comes from [build-system] on stdin.
UV ?= $(BIN)/uv
LOCK = $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
BUILD_REQUIRES = $(BIN)/python -c 'import tomllib; \
	print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'

lock: $(STAMP)
	$(BUILD_REQUIRES) | $(LOCK) --extra dev pyproject.toml - -o requirements-dev.txt
	$(BUILD_REQUIRES) | $(LOCK) -c requirements-dev.txt pyproject.toml - -o requirements.txt

# Install time and size of each lock, each into a fresh venv (README quotes one run).
install-size:
	PYTHON=$(PYTHON) scripts/install-size.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build
