# The two commands a new user needs: `make demo` and `make test`.
# Each creates the virtual environment and installs into it when needed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint unit integration schemas kafka-up kafka-down clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "toex-stream needs Python 3.11 or later; set PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/toex-stream demo

test: lint
	$(BIN)/python -m pytest

# Style, the import contracts (pyproject.toml [tool.importlinter]) and types: seconds, before the suite.
lint: $(STAMP)
	$(BIN)/ruff check toex_stream streams tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit toex_stream

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration tests/e2e

schemas: $(STAMP)
	$(BIN)/toex-stream schemas export

kafka-up: $(STAMP)
	$(BIN)/toex-stream kafka up

kafka-down: $(STAMP)
	$(BIN)/toex-stream kafka down

clean:
	rm -rf $(VENV) .toex .pytest_cache .mypy_cache
