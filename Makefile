# The README's two commands: `make demo` and `make test`. Both bootstrap .venv from requirements.lock;
# the stamp file makes a second run skip the install entirely.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit workflows-lint bench bench-large bench-venv lock clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

demo: $(STAMP)
	$(BIN)/reconciler demo

test: lint typecheck workflows-lint unit

lint: $(STAMP)
	$(BIN)/ruff check reconciler tests benchmarks
	$(BIN)/ruff format --check reconciler tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

workflows-lint: $(STAMP)
	@if ls .github/workflows/*.yml >/dev/null 2>&1; then \
		$(BIN)/actionlint .github/workflows/*.yml && \
		$(BIN)/zizmor --offline --min-severity low .github/workflows; \
	fi

# pytest exits 5 when it collected nothing; that must fail, and it does because make stops on any non-zero.
unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider

# Benchmarks (benchmarks/RESULTS.md, benchmarks/chart.png). Cloud Custodian pins an older boto3 than
# requirements.lock, so it (and matplotlib, for the chart) gets its own venv from benchmarks/requirements.txt.
BENCH_VENV := benchmarks/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): benchmarks/requirements.txt
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check -r benchmarks/requirements.txt
	@touch $@

bench-venv: $(BENCH_STAMP)

# The two regimes run side by side, each with its own emulator (see RESULTS.md); ~10 minutes.
bench: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python benchmarks/run.py --sizes 1000 --parallel-regimes

# 1,000 and 10,000 repositories; the alternatives are stopped after 10 minutes a run; about 70 minutes.
bench-large: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python benchmarks/run.py --sizes 1000 10000 --parallel-regimes --time-cap 600

# Regenerate the lock from pyproject.toml in a throwaway venv.
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip setuptools
	.lockvenv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	.lockvenv/bin/python -m pip freeze --exclude-editable --all | grep -v '^pip==' > requirements.lock
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
