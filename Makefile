# The two commands of the README. Each sets up a fresh machine by itself:
# a virtual environment in .venv with flexbench and its test extras.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.flexbench-installed
TIME_SCALE ?= 20

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/flexbench run testplans/ieee1547 --time-scale $(TIME_SCALE)

# The live view's browser test drives Debian's Chromium through its driver (CI runs as root).
CHROMEDRIVER := /usr/bin/chromedriver
$(CHROMEDRIVER):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

test: lint $(CHROMEDRIVER)
	$(BIN)/python -m pytest -q --durations=20

# Lint, format, import contract (the layers of DESIGN.md) and types. The checkers see the one
# namespace `flexbench` through a tree of links, as the installed package maps it.
IMPORTS := build/imports/flexbench
MYPY_PACKAGES := -p flexbench.core -p flexbench.instruments -p flexbench.twin -p flexbench.signals -p flexbench.lab
lint: $(STAMP)
	mkdir -p $(IMPORTS) && touch $(IMPORTS)/__init__.py
	for d in core twin instruments signals lab; do ln -sfn ../../../$$d $(IMPORTS)/$$d; done
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=build/imports $(BIN)/lint-imports
	$(BIN)/mypy $(MYPY_PACKAGES)

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf reports build *.egg-info
