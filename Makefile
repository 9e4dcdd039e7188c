# Trade CRM: `make run` serves the app with its worker and beat; `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test install lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when a requirements file changes.
$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
	$(BIN)/python manage.py compile_translations

## The embedded default: SQLite and an on-disk Celery broker; Ctrl-C stops everything.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py setup_schedules
	$(BIN)/python manage.py seed_demo --if-empty
	@echo "Trade CRM: http://127.0.0.1:8000  (Ctrl-C stops web, worker and beat)"
	$(BIN)/honcho -f Procfile.dev start

## The whole suite against PostgreSQL and Redis (DATABASE_URL, REDIS_URL; local servers by default).
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run

## The benchmarks (PostgreSQL and Redis needed; several minutes): see bench/README.md.
bench: install
	$(BIN)/python bench/import_throughput.py
	$(BIN)/python bench/import_50k.py
	$(BIN)/python bench/export_throughput.py
	$(BIN)/python bench/reminders.py

clean:
	rm -rf $(VENV) var
