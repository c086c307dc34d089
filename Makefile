# Two commands set everything up on a new machine: `make demo` (the main job) and `make test`.
# Both run `make install` first: idempotent, and quick once done.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# mypy --strict (pyproject.toml) on the whole tree. The product, bench/ and the test kit go in one run. Each other test
# directory gets a run of its own, as pytest imports it (its directory first on the path): the tests import their
# helpers and conftest by bare names, and five conftest.py files would clash in one run.
MYPY_PACKAGES := settings schemas topics processors connectors replay api deploy bench sq infra tests.kit
TEST_DIRS := $(sort $(dir $(shell find tests -name '*.py' -not -path 'tests/kit/*')))

.PHONY: install system-deps test lint typecheck pytest demo clean

install: system-deps $(STAMP)
	@$(BIN)/sq infra fetch

system-deps:
	@bash infra/install-system-deps.sh

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed (found $$($(PYTHON) --version))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/vulture

typecheck: install
	$(BIN)/mypy $(addprefix -p ,$(MYPY_PACKAGES))
	@set -e; for dir in $(TEST_DIRS); do echo "mypy $$dir"; $(BIN)/mypy $$dir*.py; done

pytest: install
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

demo: install
	$(BIN)/sq demo $(DEMO_ARGS)

clean:
	-$(BIN)/sq infra down
	rm -rf $(VENV) .sq .pytest_cache .mypy_cache .ruff_cache

# The fault harness (tests/faults/test_chaos.py) at the soak sizes: not part of `make test`; an hour or more on a
# busy 2-core machine. docs/RELIABILITY.md has the figures.
.PHONY: soak
soak: install
	SQ_CHAOS_CRASH_ORDERS=100000 SQ_CHAOS_CRASH_KILLS=20 SQ_CHAOS_POISON_ORDERS=20000 SQ_CHAOS_POISON_PER_KIND=1430 \
	SQ_CHAOS_DATABASE_ORDERS=20000 SQ_CHAOS_DATABASE_CRASHES=5 SQ_CHAOS_BROKER_ORDERS=20000 SQ_CHAOS_BROKER_KILLS=5 \
	SQ_CHAOS_REBALANCE_ORDERS=20000 SQ_CHAOS_REBALANCE_KILLS=5 $(BIN)/pytest tests/faults/test_chaos.py tests/faults/test_cluster.py -x
