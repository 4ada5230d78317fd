# make demo: the app with a real worker on SQLite and the filesystem broker, no server needed.
# make test: the whole suite, browser tests and real worker included.
# make test-fast: the suite without the browser and real-worker tests, for the edit loop.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Leave empty to use the first of python3, python3.13, python3.12, python3.11 that is 3.11+.
PYTHON ?=
CHROMIUM := /usr/bin/chromium
PYTEST_ARGS ?=
# These targets are for development and the demo: Django's DEBUG is on unless the caller
# says otherwise (production leaves it off; see production.env.example).
export DEBUG ?= 1

.PHONY: help install chromium migrate demo test test-fast lint check-deploy bench constraints

help:
	@echo "make demo       run the app and a worker at http://localhost:$(PORT) (Ctrl-C stops both)"
	@echo "make test       run the whole test suite"
	@echo "make test-fast  run it without the browser and real-worker tests"
	@echo "make install | migrate | lint | check-deploy | bench | constraints"

install: $(VENV)/.installed

$(BIN)/python:
	@py=""; \
	for candidate in $(PYTHON) python3 python3.13 python3.12 python3.11; do \
	  if "$$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
	    py=$$candidate; break; \
	  fi; \
	done; \
	if [ -z "$$py" ]; then echo "Python 3.11 or newer is needed; set PYTHON=/path/to/python3.x" >&2; exit 1; fi; \
	echo "Creating $(VENV) with $$py"; \
	"$$py" -m venv $(VENV)

# The stamp makes install idempotent: pip runs again only when the dependencies change.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

# Playwright cannot download its own browsers here, so the browser tests use Debian's.
chromium:
	@if [ -x $(CHROMIUM) ]; then \
	  :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
	  echo "Note: $(CHROMIUM) is missing and this is not root; the browser tests (tests/e2e)"; \
	  echo "      will fail until someone runs: sudo apt-get install chromium"; \
	fi

migrate: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput

demo: install migrate
	$(BIN)/python manage.py seed_demo
	PORT=$(PORT) bin/demo

# A fresh VAR_DIR per run unless one is given: the tests' SQLite file and broker folders
# then never meet a running demo's, nor another test run's.
define pytest_in_var_dir
	@var_dir=$${VAR_DIR:-$$(mktemp -d "$${TMPDIR:-/tmp}/ungrouped-captures-test.XXXXXX")}; \
	echo "VAR_DIR=$$var_dir $(BIN)/pytest $(1)"; \
	VAR_DIR=$$var_dir $(BIN)/pytest $(1); status=$$?; \
	[ -n "$$VAR_DIR" ] || rm -rf "$$var_dir"; \
	exit $$status
endef

test: install chromium
	$(call pytest_in_var_dir,$(PYTEST_ARGS))

# Tests are marked `browser` and `worker` by tests/conftest.py; no Chromium needed.
# The quick loop while editing: no browser (nor its plugin), no real worker, a tenth of the
# property examples.
test-fast: install
	$(call pytest_in_var_dir,-m 'not browser and not worker' -p no:playwright --ignore=tests/e2e $(PYTEST_ARGS))
test-fast: export QUICK_PROPERTIES = 1

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Django's deployment checks with the production environment the README documents, and a
# throwaway secret key (the example leaves it blank on purpose).
check-deploy: $(VENV)/.installed
	@set -a; . ./production.env.example; set +a; \
	SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))') \
	  $(BIN)/python manage.py check --deploy --fail-level WARNING

bench: install
	$(BIN)/python bench/run.py

# Pin what is installed now, after a deliberate upgrade or a new dependency.
constraints: $(VENV)/.installed
	@{ echo "# Versions the suite last passed with; 'make install' installs with -c constraints.txt."; \
	   echo "# Regenerate after changing pyproject.toml: make constraints"; \
	   $(BIN)/python -m pip freeze --exclude-editable --disable-pip-version-check; } > constraints.txt.new
	@mv constraints.txt.new constraints.txt
	@touch $(VENV)/.installed
