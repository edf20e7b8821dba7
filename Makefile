# Two set-up commands: `make demo` and `make test`. `make bundle` builds the Claude Desktop Extension
# (dist/workos-migrate-<version>.mcpb; needs npm). Everything else is a helper for them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint bundle bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m server.demo

test: $(STAMP)
	$(BIN)/ruff check core server tests bench mcpb
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bundle: $(STAMP)
	$(BIN)/python mcpb/build.py --out dist

lint: $(STAMP)
	$(BIN)/ruff check core server tests bench mcpb
	$(BIN)/ruff format --check core server tests bench mcpb
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .workos-checkpoints build dist
