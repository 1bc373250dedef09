# KhaiBao Kiosk. `make run` sets everything up and serves the kiosk; `make test` sets up and tests.
# Both install only what is missing, so a second run starts in seconds.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PORT ?= 5000
HOST ?= 127.0.0.1
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
PYTEST_ARGS ?=

# Debian/Ubuntu packages: the zbar library (pyzbar backend) and a font with Vietnamese glyphs.
RUN_PACKAGES := libzbar0 fonts-dejavu-core
# Tests add Chromium (browser tests), the D-Bus daemon (mock BlueZ for BLE tests) and what
# dbus-python needs to build, and LibreOffice Calc (exports keep ID numbers as text there).
TEST_PACKAGES := $(RUN_PACKAGES) chromium dbus libdbus-1-dev libglib2.0-dev pkg-config gcc libreoffice-calc-nogui
# Benchmarks add wrk (HTTP load generator for the check-in throughput figures).
BENCH_PACKAGES := $(TEST_PACKAGES) wrk
BENCH_ARGS ?=

.PHONY: help run test screenshots bench system-run system-test system-bench translations migrate seed migration messages clean

help:
	@echo "make run     set up (system packages, .venv, database) and serve on http://$(HOST):$(PORT)/"
	@echo "make test    set up and run the whole test suite (SQLite; DATABASE_URL=postgresql://… for PostgreSQL)"
	@echo "make screenshots  write screenshots of every page at phone, kiosk landscape and portrait size into screenshots/"
	@echo "make bench   run the benchmarks and write bench/results.md (BENCH_ARGS=\"--only decode --quick\")"

run: system-run $(VENV)/.run-deps translations
	$(FLASK) db upgrade
	$(FLASK) seed
	@$(FLASK) kiosk pair --name "make run" --base-url http://$(HOST):$(PORT)
	PORT=$(PORT) $(FLASK) kiosk run --host $(HOST) --port $(PORT)

test: system-test $(VENV)/.dev-deps translations
	@status=0; $(BIN)/python -m pytest $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a failure, not a pass"; fi; \
	exit $$status

# Every page at 390x844 (phone), 1280x800 (kiosk landscape) and 1080x1920 (kiosk portrait).
SCREENSHOTS ?= screenshots
screenshots: system-test $(VENV)/.dev-deps translations
	KHAIBAO_SCREENSHOTS=$(abspath $(SCREENSHOTS)) $(BIN)/python -m pytest -q -p no:cacheprovider -m screenshots tests/screens
	@echo "screenshots written to $(SCREENSHOTS)/"

bench: system-bench $(VENV)/.dev-deps translations
	$(BIN)/python bench/run.py $(BENCH_ARGS)

system-run:
	@PYTHON=$(PYTHON) deploy/ensure-system-packages.sh $(RUN_PACKAGES)

system-test:
	@PYTHON=$(PYTHON) deploy/ensure-system-packages.sh --python-build $(TEST_PACKAGES)

system-bench:
	@PYTHON=$(PYTHON) deploy/ensure-system-packages.sh --python-build $(BENCH_PACKAGES)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run-deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@ $(VENV)/.run-deps

translations: $(VENV)/.run-deps
	@$(FLASK) translations compile

migrate: $(VENV)/.run-deps
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) seed

# After changing a model: make migration m="what changed"
migration: $(VENV)/.run-deps
	@test -n "$(m)" || { echo 'usage: make migration m="what changed"'; exit 2; }
	@scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; \
	DATABASE_URL=sqlite:///$$scratch/scratch.db $(FLASK) db upgrade && \
	DATABASE_URL=sqlite:///$$scratch/scratch.db $(FLASK) db revision --autogenerate -m "$(m)"

# Re-extract the messages of every package into its catalogue (then translate the new ones).
messages: $(VENV)/.run-deps
	@for pkg in core visits notices declarations kiosk ble_beacon tracing sync; do \
	  paths="$$pkg"; [ -d templates/$$pkg ] && paths="$$paths templates/$$pkg"; \
	  [ $$pkg = core ] && paths="$$paths templates/base.html"; \
	  $(BIN)/pybabel extract -F babel.cfg --no-location -k lazy_gettext -k _l -o /tmp/khaibao-$$pkg.pot $$paths && \
	  if [ -f $$pkg/translations/vi/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel update --no-fuzzy-matching --ignore-pot-creation-date -w 100 -i /tmp/khaibao-$$pkg.pot -d $$pkg/translations -l vi; \
	  elif [ $$(grep -c '^msgid "' /tmp/khaibao-$$pkg.pot) -gt 1 ]; then \
	    $(BIN)/pybabel init -w 100 -i /tmp/khaibao-$$pkg.pot -d $$pkg/translations -l vi; fi; \
	  rm -f /tmp/khaibao-$$pkg.pot; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
	find . -name __pycache__ -prune -exec rm -rf {} +
	find . -name '*.mo' -path '*/translations/*' -delete
