# Two commands set everything up on a new machine: `make demo` (the main job) and `make test`.
# Both run `make install` first: idempotent, and quick once done.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# mypy keeps these strict: the pure cores, schemas, the catalogue, settings, replay, connectors and the API.
MYPY_PATHS := schemas topics settings processors/core.py processors/risk processors/venue processors/oms processors/orderbook processors/portfolio replay connectors/marketdata connectors/postgres api

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
	$(BIN)/mypy $(MYPY_PATHS)

pytest: install
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

demo: install
	$(BIN)/sq demo $(DEMO_ARGS)

clean:
	-$(BIN)/sq infra down
	rm -rf $(VENV) .sq .pytest_cache .mypy_cache .ruff_cache
