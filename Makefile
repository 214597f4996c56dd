# airlock developer commands. Everything installs itself into .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PYTEST := $(PY) -m pytest
DJ42 := .venv-dj42
# Suites that touch the database: run again on PostgreSQL and on Django 4.2.
DB_SUITES = $(wildcard tests/django tests/outbox)

.PHONY: venv demo serve test test-fast test-postgres test-integrations test-django42 lint typecheck docs bench clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	touch $@

$(VENV)/.demo: $(VENV)/.created pyproject.toml
	$(PIP) install -q -e ".[django]"
	touch $@

$(VENV)/.dev: $(VENV)/.created pyproject.toml
	$(PIP) install -q -e ".[dev,ray]"
	touch $@ $(VENV)/.demo

venv: $(VENV)/.dev

# The example shop (example_project/): SQLite next to it, tasks run in-process.
# `demo` empties the shop's orders, task effects and journal first (it says so).
SHOP := cd example_project && ../$(PY) manage.py

demo: $(VENV)/.demo
	$(SHOP) migrate -v0
	$(SHOP) demo

serve: $(VENV)/.demo
	$(SHOP) migrate -v0
	$(SHOP) runserver

test: $(VENV)/.dev test-fast test-postgres test-integrations test-django42

test-fast: $(VENV)/.dev
	$(PYTEST) tests

test-postgres: $(VENV)/.dev
	$(if $(DB_SUITES),AIRLOCK_TEST_DB=postgres $(PYTEST) $(DB_SUITES),@echo "no database suites yet")

test-integrations: $(VENV)/.dev
	$(if $(wildcard integrations/*/test_*.py),$(PYTEST) --ds=integrations.settings integrations,@echo "no integration suites yet")

$(DJ42)/.created: pyproject.toml
	$(PYTHON) -m venv $(DJ42)
	$(DJ42)/bin/python -m pip install -q --upgrade pip
	$(DJ42)/bin/python -m pip install -q -e . "django>=4.2,<4.3" "psycopg[binary]" pytest pytest-django pytest-asyncio pytest-timeout hypothesis tqdm
	touch $@

test-django42: $(DJ42)/.created
	$(if $(DB_SUITES),$(DJ42)/bin/python -m pytest $(DB_SUITES) && AIRLOCK_TEST_DB=postgres $(DJ42)/bin/python -m pytest $(DB_SUITES),@echo "no database suites yet")

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

typecheck: $(VENV)/.dev
	$(VENV)/bin/mypy --strict airlock

docs: $(VENV)/.dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir build/site

bench: $(VENV)/.dev
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(DJ42) build .mypy_cache .ruff_cache
