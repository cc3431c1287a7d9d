# drone-attest: `make demo` runs the attestation on simulated drones; `make test` runs the tests.
# Both create .venv and install everything they need on a fresh Debian machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: all demo test test-slow lint typecheck unit system-deps bench fuzz clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

system-deps:
	@scripts/system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check attest tests hw_tests bench
	$(BIN)/ruff format --check attest tests hw_tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Two workers (pytest-xdist): most tests wait on simulators, sshd and subprocesses rather than
# compute, so two halve the time on a 2-core machine. `make unit PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 2
unit: $(STAMP) system-deps
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)

test: lint typecheck unit

test-slow: $(STAMP) system-deps
	$(BIN)/pytest -q --run-slow

demo: $(STAMP)
	@bash scripts/demo.sh
	@bash scripts/demo_android.sh
	@bash scripts/demo_trust.sh

bench: $(STAMP)
	$(BIN)/python bench/run.py

# Coverage-guided fuzzing of every parser, 100,000 inputs each (docs/fuzzing.md); `make test` runs a smoke.
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run

clean:
	rm -rf $(VENV) demo-out bench/out .pytest_cache .mypy_cache .ruff_cache
