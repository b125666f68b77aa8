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
# Debian packages the project needs: Graphviz for SVG/PNG diagrams, Chromium for the browser test.
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

setup: system-deps $(STAMP)  ## create/refresh .venv and install Debian packages

system-deps:  ## install Graphviz and Chromium with apt when they are missing
	@missing=""; for pkg in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo=sudo; else \
	    echo "error: need root (or sudo) to install:$$missing; install them and run make again" >&2; exit 1; fi; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
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
	$(BIN)/mkdocs build --strict --site-dir site

test: setup lint typecheck pytest docs  ## ruff, mypy, pytest with doctests, strict docs build

bench: setup  ## benchmarks against plain baselines (SIZE=s|m|l)
	$(BIN)/python -m benchmarks --size $(SIZE)

clean:
	rm -rf $(VENV) site $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
