# The two commands of the README: `make run` and `make test`.
# Everything they need is installed here, so a fresh Debian machine (or a clean CI clone)
# needs nothing done by hand.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp is rebuilt whenever the dependency list or the pinned versions change,
# so a second run reuses the venv and starts in seconds.
STAMP := $(VENV)/.installed

.PHONY: run test lint venv simulator

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

# The ThingsBoard simulator alone, with its demo data, on the port AlarmDesk expects.
simulator: $(STAMP)
	$(BIN)/python -m alarmdesk.tbsim --host 127.0.0.1 --port 8080 --scenario demo
