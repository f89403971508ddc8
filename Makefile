# The README's two commands: `make demo` and `make test`. Both bootstrap .venv from requirements.lock;
# the stamp file makes a second run skip the install entirely.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit workflows-lint bench bench-large lock clean

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

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --sizes 1000

bench-large: $(STAMP)
	$(BIN)/python benchmarks/run.py --sizes 1000 10000

# Regenerate the lock from pyproject.toml in a throwaway venv.
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip setuptools
	.lockvenv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	.lockvenv/bin/python -m pip freeze --exclude-editable --all | grep -v '^pip==' > requirements.lock
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
