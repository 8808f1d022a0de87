# One command per job. Each creates .venv on first use, so a fresh clone needs only Python 3.11 (and, for
# the tests, Debian's redis-server, which `make test` installs when it is missing).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The suite on every core: its subprocess and loopback tests mostly wait, so two workers halve the time.
WORKERS ?= $(shell $(PYTHON) -c 'import os; print(min(4, max(2, len(os.sched_getaffinity(0)))))' 2>/dev/null || echo 2)

.PHONY: demo test test-fast test-thorough ci lint bench redis-server clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { echo "need Python >= 3.11 (make PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The demo needs the package and its runtime dependencies only.
$(VENV)/.installed-runtime: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed: $(VENV)/.installed-runtime
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

demo: $(VENV)/.installed-runtime
	$(BIN)/python -m threecommas_async demo

# The Redis storage is tested against a real server, never skipped: install Debian's when it is missing.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian package) for the Redis storage tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "redis-server is missing and cannot be installed without root: apt-get install redis-server"; exit 1; fi; \
	  $$SUDO apt-get install -y -qq redis-server >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server; }; }

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict

test: lint redis-server
	$(BIN)/pytest -q -n $(WORKERS) --durations=10

# The fast layer alone (no socket, no process): seconds.
test-fast: $(VENV)/.installed
	$(BIN)/pytest -q -m "unit and not integration and not e2e"

# Every Hypothesis test at the thorough profile (about 23,000 fuzzed answers): CI runs it after `make test`.
test-thorough: $(VENV)/.installed
	HYPOTHESIS_PROFILE=thorough $(BIN)/pytest -q -n $(WORKERS) -m hypothesis

ci: test test-thorough

bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache .hypothesis
