# edtech-map: two commands for a fresh machine.
#   make demo   set up, then run the whole pipeline on the bundled sample district
#   make test   set up, then run ruff, mypy, pytest (doctests included) and the strict docs build
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-output
SIZE ?= s
# Debian packages the project needs: Graphviz for SVG/PNG diagrams, Chromium for the browser
# tests, Node.js and npm to install the Mermaid library those tests render with.
SYSTEM_PACKAGES := graphviz chromium

.PHONY: help setup system-deps demo test lint typecheck pytest docs bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -c "import edtech_map, duckdb, playwright"  # fail here, not later, if pip did
	touch $(STAMP)

# The real Mermaid library, for the test that renders our Mermaid output in Chromium.
NODE_STAMP := tests/browser/node_modules/.installed
$(NODE_STAMP): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

setup: system-deps $(STAMP) $(NODE_STAMP)  ## create/refresh .venv, npm test deps, Debian packages

system-deps:  ## install Graphviz and Chromium with apt when they are missing
	@if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo=sudo; fi; \
	missing=""; for pkg in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  if [ -n "$$sudo" ] && ! command -v sudo >/dev/null; then \
	    echo "error: need root (or sudo) to install:$$missing; install them and run make again" >&2; exit 1; fi; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi; \
	if ! command -v npm >/dev/null; then \
	  echo "Installing Debian packages: nodejs npm"; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; \
	fi

demo: setup  ## run the whole pipeline on the sample district into ./demo-output
	$(BIN)/edtech-map demo --out $(DEMO_DIR)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

test: setup lint typecheck pytest docs  ## ruff, mypy, pytest with doctests, strict docs build

bench: setup  ## benchmarks against plain baselines (SIZE=s|m|l)
	$(BIN)/python -m benchmarks --size $(SIZE)

clean:
	rm -rf $(VENV) site $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
