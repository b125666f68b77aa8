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
	touch $(STAMP)

setup: system-deps $(STAMP)  ## create/refresh .venv and install Debian packages

system-deps:  ## install Graphviz and Chromium with apt when they are missing
	@bash scripts/system-deps.sh $(SYSTEM_PACKAGES)

demo: setup  ## run the whole pipeline on the sample district into ./demo-output
	$(BIN)/edtech-map demo --out $(DEMO_DIR)

lint: $(STAMP)
	$(BIN)/ruff check edtech_map connectors tests benchmarks
	$(BIN)/ruff format --check edtech_map connectors tests benchmarks

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
