# Zabota — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint typecheck services demo worker i18n clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed-run

## Install, migrate, create the first admin and demo data (first start only), serve on :8000.
run: $(VENV)/.installed-run
	$(BIN)/zabota migrate
	$(BIN)/zabota createadmin --if-none
	@echo "Zabota is starting on http://127.0.0.1:8000 (API docs: http://127.0.0.1:8000/docs)"
	$(BIN)/zabota serve --host 127.0.0.1 --port 8000 --load-demo

## Install test dependencies, make sure PostgreSQL and Redis run, lint, run the whole suite.
test: $(VENV)/.installed-test
	bash scripts/ensure-services.sh
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks scripts

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

worker: $(VENV)/.installed-run
	$(BIN)/zabota worker

i18n: $(VENV)/.installed-test
	$(BIN)/python scripts/i18n.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
