# Two commands matter (see README): `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

# The embedded default: SQLite under var/, tasks in-process, emails under var/outbox/.
RUN_ENV := DEBUG=1

.PHONY: run test install browser lint format migrate seed clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput

seed: migrate
	$(RUN_ENV) $(BIN)/python manage.py ingest seeds/hf-daily-papers-2025-11-06.txt
	$(RUN_ENV) $(BIN)/python manage.py demo_subscribers
	$(RUN_ENV) $(BIN)/python manage.py send_digests --date 2025-11-06
	$(RUN_ENV) $(BIN)/python manage.py local_admin
	@echo "Emails (digests, confirmations) are written under var/outbox/."

run: seed
	@echo "Serving Paper Digest at http://$(HOST):$(PORT)/"
	$(RUN_ENV) $(BIN)/python manage.py runserver $(HOST):$(PORT)

# The browser test drives Debian's Chromium (no browser download is possible here).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "Could not install Chromium: the browser test will skip (and fail in CI)."

test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# mypy's Django plugin imports the settings, which need a key (never a real one, as in tests).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	SECRET_KEY=mypy-only-not-a-secret $(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
