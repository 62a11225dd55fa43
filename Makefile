# The two commands that matter: `make demo` and `make test` (see README.md).
# Everything is installed into .venv; system packages (redis-server, chromium,
# postgresql) come from Debian and FerretDB (a MongoDB-compatible server for the
# Mongo tests) from Go.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GOBIN := $(shell go env GOPATH 2>/dev/null)/bin
FERRETDB_VERSION := v1.24.2
export PATH := $(CURDIR)/$(BIN):$(GOBIN):$(PATH)

PLUGINS := $(patsubst %/setup.py,%,$(wildcard plugins/*/setup.py))
PACKAGES := -e . $(foreach plugin,$(PLUGINS),-e $(plugin))
TYPED := tornado_sessions examples/app.py examples/sqlite_store.py benchmarks \
         $(patsubst %/__init__.py,%,$(wildcard $(addsuffix /tornado_sessions_*/__init__.py,$(PLUGINS))))

.PHONY: demo test install system-deps lint typecheck pytest test-browser bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.py requirements-dev.txt $(wildcard plugins/*/setup.py)
	$(BIN)/python -m pip install -q $(PACKAGES) -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Debian packages and FerretDB, installed only when missing.  FerretDB is built by a
# script rather than a bare `go install`, whose binary panics at start-up (see it).
system-deps:
	@if ! command -v redis-server >/dev/null || ! command -v chromium >/dev/null \
		|| ! command -v curl >/dev/null || ! command -v openssl >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq redis-server chromium curl openssl \
		>/dev/null; fi
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; fi
	@if ! ferretdb --version >/dev/null 2>&1; then \
		plugins/tornado-sessions-mongo/scripts/install-ferretdb.sh "$(GOBIN)/ferretdb"; fi

demo: install
	$(BIN)/python examples/app.py

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy --strict $(TYPED)
	MYPYPATH=examples/store_plugin $(BIN)/mypy --strict --explicit-package-bases \
		examples/store_plugin/tornado_sessions_filestore examples/store_plugin/tests

pytest: install system-deps
	$(BIN)/pytest

test: lint typecheck pytest

test-browser: install system-deps
	$(BIN)/pytest tests/browser

# `make bench STORE=redis://127.0.0.1:6379/15` also measures that store (space-separated
# URLs for several); BENCH_ARGS passes further options, e.g. BENCH_ARGS=--targets.
STORE ?=
BENCH_ARGS ?=
BENCH_STORES = $(foreach url,$(STORE),--store $(url))

bench: install
	$(BIN)/python -m benchmarks $(BENCH_STORES) $(BENCH_ARGS)

bench-quick: install
	$(BIN)/python -m benchmarks --quick $(BENCH_STORES) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info benchmarks/results test-artifacts
