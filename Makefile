# airlock developer commands. Everything installs itself into .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PYTEST := $(PY) -m pytest
# Suites that touch the database: run again on PostgreSQL and on Django 6.0 and 6.1.
DB_SUITES = $(wildcard tests/django tests/outbox tests/inbox)
# Other Pythons, each in its own venv (pyenv's when there, else pythonX.Y on PATH).
pyenv_python = $(firstword $(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python$(1)) python$(1))
PYTHON310 ?= $(call pyenv_python,3.10)
PYTHON312 ?= $(call pyenv_python,3.12)
PYTHON313 ?= $(call pyenv_python,3.13)
PY310 := .venv-py310
DJ60 := .venv-dj60
DJ61 := .venv-dj61
MATRIX_OLDEST := .venv-matrix-oldest
MATRIX_NEWEST := .venv-matrix-newest
TEST_DEPS := "psycopg[binary]" pytest pytest-django pytest-asyncio pytest-timeout hypothesis tqdm

.PHONY: venv demo serve test test-fast test-postgres test-mariadb test-integrations test-python310 test-django60 test-django61 test-extras test-matrix lint typecheck docs bench clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	touch $@

# An editable install compiles airlock/_speedups.c in place (hatch_build.py): reinstall when
# it changes.
SPEEDUPS := airlock/_speedups.c hatch_build.py

$(VENV)/.demo: $(VENV)/.created pyproject.toml $(SPEEDUPS)
	$(PIP) install -q -e ".[django]"
	touch $@

$(VENV)/.dev: $(VENV)/.created pyproject.toml $(SPEEDUPS)
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

test: $(VENV)/.dev test-fast test-postgres test-mariadb test-integrations test-python310 test-django60 test-django61 test-extras test-matrix

test-fast: $(VENV)/.dev
	$(PYTEST) tests

test-postgres: $(VENV)/.dev
	$(if $(DB_SUITES),AIRLOCK_TEST_DB=postgres $(PYTEST) $(DB_SUITES),@echo "no database suites yet")

# The inbox on MariaDB (through PyMySQL): the insert-in-a-savepoint path of databases without
# ON CONFLICT DO NOTHING.
test-mariadb: $(VENV)/.dev
	AIRLOCK_TEST_DB=mariadb $(PYTEST) tests/inbox

test-integrations: $(VENV)/.dev
	$(if $(wildcard integrations/*/test_*.py),$(PYTEST) --ds=integrations.settings integrations,@echo "no integration suites yet")

# A fresh venv: $(1) its folder, $(2) its Python, $(3) what it needs besides airlock.
define new_venv
	rm -rf $(1)
	$(2) -m venv $(1)
	$(1)/bin/python -m pip install -q --upgrade pip
	$(1)/bin/python -m pip install -q -e . $(3)
	touch $(1)/.created
endef

# The core suite and the database suites on SQLite then PostgreSQL, in venv $(1), with the
# environment $(2) (AIRLOCK_PURE_PYTHON=1: the pure-Python scope core, see airlock/_core.py).
define core_and_db_suites
	$(2) $(1)/bin/python -m pytest -q tests/core $(DB_SUITES)
	$(if $(DB_SUITES),$(2) AIRLOCK_TEST_DB=postgres $(1)/bin/python -m pytest -q $(DB_SUITES))
endef

# Python 3.10, the oldest supported: the suites that need no Django version of their own, on
# the pure-Python scope core (the compiled one is built but not used: airlock/_core.py).
$(PY310)/.created: pyproject.toml Makefile $(SPEEDUPS)
	$(call new_venv,$(PY310),$(PYTHON310),"django~=5.2.0" "celery[redis]" boto3 "moto[server]" $(TEST_DEPS))

test-python310: $(PY310)/.created
	AIRLOCK_PURE_PYTHON=1 $(PY310)/bin/python -m pytest -q tests/core tests/executors

# Django 6.0 on Python 3.12, on the pure-Python scope core (as Python 3.10 above).
$(DJ60)/.created: pyproject.toml Makefile $(SPEEDUPS)
	$(call new_venv,$(DJ60),$(PYTHON312),"django~=6.0.0" $(TEST_DEPS))

test-django60: $(DJ60)/.created
	$(call core_and_db_suites,$(DJ60),AIRLOCK_PURE_PYTHON=1)

# Django 6.1 on Python 3.13, with its built-in django.tasks (no django-tasks backport) run by
# django-tasks-db's worker: the executor's fast suite and the end-to-end suite.
$(DJ61)/.created: pyproject.toml Makefile $(SPEEDUPS)
	$(call new_venv,$(DJ61),$(PYTHON313),"django~=6.1.0" django-tasks-db redis $(TEST_DEPS))

test-django61: $(DJ61)/.created
	$(call core_and_db_suites,$(DJ61))
	$(DJ61)/bin/python -m pytest -q tests/queues/test_django_tasks_executor.py
	$(DJ61)/bin/python -m pytest -q --ds=integrations.settings integrations/django_tasks

# The version matrix of the batched executors' fast paths (they build the queue libraries' own
# messages): the OLDEST supported and the NEWEST release of celery/kombu/amqp, dramatiq, huey,
# redis-py and pika, each in a fresh venv with only what these suites need; the byte-for-byte
# comparison suites (tests/perf) and the stock-worker e2e suites (integrations/celery_batch) run in each.
# Keep the pins in step with pyproject's extras and the FastPath ranges (docs/executors.md).
MATRIX_TESTS := tests/perf/test_celery_batch.py tests/perf/test_celery_amqp.py tests/perf/test_queue_batches.py tests/perf/test_dramatiq_redis_batch.py tests/perf/test_dramatiq_rabbitmq.py tests/perf/test_dramatiq_messages.py tests/perf/test_version_gates.py
MATRIX_DEPS := "django~=5.2.0" "psycopg[binary]" pytest pytest-django pytest-timeout pytest-asyncio hypothesis
MATRIX_OLDEST_PINS := celery==5.3.0 kombu==5.3.0 amqp==5.1.1 "dramatiq[redis,rabbitmq]==1.15.0" huey==2.5.0 redis==5.0.0 pika==1.3.0 packaging
MATRIX_NEWEST_PINS := celery==5.7.0 kombu==5.7.0 amqp==5.4.2 "dramatiq[redis,rabbitmq]==2.2.1" huey==3.5.4 redis==8.1.0 pika==1.4.4 packaging

$(MATRIX_OLDEST)/.created: pyproject.toml Makefile $(SPEEDUPS)
	$(call new_venv,$(MATRIX_OLDEST),$(PYTHON),$(MATRIX_OLDEST_PINS) $(MATRIX_DEPS))

$(MATRIX_NEWEST)/.created: pyproject.toml Makefile $(SPEEDUPS)
	$(call new_venv,$(MATRIX_NEWEST),$(PYTHON),$(MATRIX_NEWEST_PINS) $(MATRIX_DEPS))

define matrix_suites
	$(1)/bin/python -m pip list 2>/dev/null | grep -iE "^(celery|kombu|amqp|dramatiq|huey|redis|pika) "
	$(1)/bin/python -m pytest -q --continue-on-collection-errors -W error::airlock.exceptions.UntestedVersionWarning $(MATRIX_TESTS)
	$(1)/bin/python -m pytest -q --continue-on-collection-errors -W error::airlock.exceptions.UntestedVersionWarning --ds=integrations.settings integrations/celery_batch
endef

test-matrix: $(MATRIX_OLDEST)/.created $(MATRIX_NEWEST)/.created
	$(call matrix_suites,$(MATRIX_OLDEST))
	$(call matrix_suites,$(MATRIX_NEWEST))

# Each extra alone in a brand-new venv: install, import, one real send (.ci/extras).
test-extras:
	.ci/extras

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

typecheck: $(VENV)/.dev
	$(VENV)/bin/mypy --strict airlock

docs: $(VENV)/.dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir build/site

bench: $(VENV)/.dev
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(PY310) $(DJ60) $(DJ61) $(MATRIX_OLDEST) $(MATRIX_NEWEST) .venv-extras build .mypy_cache .ruff_cache airlock/_speedups.*.so
