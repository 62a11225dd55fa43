# The two commands that matter: `make demo` and `make test` (see README.md).
# Everything is installed into .venv; system packages (redis-server, chromium) come
# from Debian and FerretDB (a MongoDB-compatible server for the Mongo tests) from Go.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GOBIN := $(shell go env GOPATH 2>/dev/null)/bin
FERRETDB_VERSION := v1.24.2
export PATH := $(CURDIR)/$(BIN):$(GOBIN):$(PATH)

PLUGINS := $(patsubst %/setup.py,%,$(wildcard plugins/*/setup.py))
PACKAGES := -e . $(foreach plugin,$(PLUGINS),-e $(plugin))
TYPED := tornado_sessions examples/app.py \
         $(patsubst %/__init__.py,%,$(wildcard $(addsuffix /tornado_sessions_*/__init__.py,$(PLUGINS))))

.PHONY: demo test install system-deps lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.py requirements-dev.txt $(wildcard plugins/*/setup.py)
	$(BIN)/python -m pip install -q $(PACKAGES) -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Debian packages and FerretDB, installed only when missing.
system-deps:
	@if ! command -v redis-server >/dev/null || ! command -v chromium >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq redis-server chromium >/dev/null; fi
	@if ! command -v ferretdb >/dev/null; then \
		go install github.com/FerretDB/FerretDB/cmd/ferretdb@$(FERRETDB_VERSION); fi

demo: install
	$(BIN)/python examples/app.py

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy --strict $(TYPED)

pytest: install system-deps
	$(BIN)/pytest

test: lint typecheck pytest

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info benchmarks/results test-artifacts
