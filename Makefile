# The two commands of the README: `make run` and `make test`.
# Everything they need is installed here, so a fresh Debian machine (or a clean CI clone)
# needs nothing done by hand.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp is rebuilt whenever the dependency list or the pinned versions change,
# so a second run reuses the venv and starts in seconds.
STAMP := $(VENV)/.installed
# What `manage.py check --deploy` sees: a production-like configuration.
DEPLOY_ENV := DEBUG=false ALARMDESK_HTTPS=true ALLOWED_HOSTS=alarmdesk.example.com \
	SECRET_KEY=deploy-check-$(shell head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

.PHONY: run test lint checks system-packages venv simulator

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,postgres]'
	touch $@

venv: $(STAMP)

# Debian's redis-server, and for the tests chromium, postgresql and nginx (installed with
# apt-get when missing, as root).
system-packages:
	scripts/system-packages.sh --browser

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

checks: $(STAMP)
	mkdir -p var
	$(DEPLOY_ENV) $(BIN)/python manage.py check --deploy --fail-level WARNING
	$(DEPLOY_ENV) $(BIN)/python manage.py makemigrations --check --dry-run

# The whole system in demo mode (or against TB_URL): see Procfile and scripts/run.sh.
run: $(STAMP)
	scripts/system-packages.sh
	@# Ctrl-C (exit status 130) is how it is meant to end: not an error.
	scripts/run.sh || [ $$? -eq 130 ]

# Every test on SQLite and, side by side, the store's tests again on PostgreSQL.
test: system-packages lint checks
	scripts/test.sh

# The ThingsBoard simulator alone, with its demo data, on the port AlarmDesk expects.
simulator: $(STAMP)
	$(BIN)/python -m alarmdesk.tbsim --host 127.0.0.1 --port 8080 --scenario demo

# The README's screenshots (docs/screenshots/): a private demo system on free ports,
# photographed in Debian's Chromium; fails on any console error, CSP violation or HTTP error.
.PHONY: screenshots
screenshots: $(STAMP) system-packages
	$(BIN)/python scripts/screenshots.py
