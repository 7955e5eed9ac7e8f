# The two commands of the README. Each sets up a fresh machine by itself:
# a virtual environment in .venv with flexbench and its test extras.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.flexbench-installed
TIME_SCALE ?= 20

.PHONY: demo test lint bench clean conformance

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

# Sources compiled once before the suite: each plan run starts several processes (the run, the virtual
# lab, the guardian, controllers), and where PYTHONDONTWRITEBYTECODE is set each would compile them again.
# Two pytest workers per core (at most 16): most of a plan run's wall time is bench time passing, so
# workers wait more than they compute. An idle worker takes tests queued for a busy one (worksteal), and
# plan runs are forks of a pre-imported process per worker (tests/support/flexbench_cli.py). An open bench
# runs at raised priority where the host allows it (lab.priority; CI runs as root), so the other runs'
# start-up and reports do not make its real-time checks late. Three per core finish in 8-9.5 min on two
# cores, but with six benches open at once a recorder still missed a 10 s window (OPC-LOSS) in one run of
# three; two per core take about 11 min.
TEST_WORKERS ?= $(shell n=$$((2 * $$(nproc))); [ $$n -gt 16 ] && n=16; echo $$n)
test: lint $(CHROMEDRIVER)
	$(BIN)/python -m compileall -q -j 0 core twin instruments signals lab > /dev/null
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=20

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

# CSIP-AUS server conformance with the public cactus-client harness (long; not part of `make test`).
# The harness needs Python 3.12: its own environment, with the admin plugin that drives flexbench's
# operator API. ONLY="S-ALL-01 S-ALL-53" runs those again and merges their results into the table (which
# says which run each result comes from); CONFORMANCE_MAX_S=900 stops any procedure after 900 s
# (S-ALL-50 simulates a client for 72 h) and marks it cut short.
CONFORMANCE_VENV ?= .conformance-venv
CONFORMANCE_STAMP := $(CONFORMANCE_VENV)/.installed
CONFORMANCE_JOBS ?= 6
PYTHON312 ?= $(shell p=$$(pyenv prefix 3.12 2>/dev/null) && echo $$p/bin/python3.12 || echo python3.12)
$(CONFORMANCE_STAMP): conformance/requirements.txt conformance/cactus_plugin/pyproject.toml conformance/cactus_plugin/flexbench_cactus_admin.py
	test -x $(CONFORMANCE_VENV)/bin/python || $(PYTHON312) -m venv $(CONFORMANCE_VENV)
	$(CONFORMANCE_VENV)/bin/python -m pip install -q --upgrade pip
	$(CONFORMANCE_VENV)/bin/python -m pip install -q -r conformance/requirements.txt ./conformance/cactus_plugin
	touch $(CONFORMANCE_STAMP)

conformance: $(STAMP) $(CONFORMANCE_STAMP)
	nice -n 10 $(BIN)/python conformance/run.py --harness $(CONFORMANCE_VENV) --flexbench $(BIN)/flexbench \
		--jobs $(CONFORMANCE_JOBS) $(if $(ONLY),--only $(ONLY)) $(if $(CONFORMANCE_MAX_S),--max-procedure-s $(CONFORMANCE_MAX_S))

# reports/conformance holds the committed conformance table; everything else in reports is output.
clean:
	find reports -mindepth 1 -maxdepth 1 ! -name conformance -exec rm -rf {} + 2>/dev/null || true
	rm -rf build *.egg-info
