"""A missing queue library raises ImportError naming the extra to install."""

from __future__ import annotations

import importlib
import re
import sys

import pytest

CASES = [
    ("airlock.integrations.django", "django", "django-airlock[django]"),
    ("airlock.integrations.executors.dramatiq", "dramatiq", "django-airlock[dramatiq]"),
    ("airlock.integrations.dramatiq", "dramatiq", "django-airlock[dramatiq]"),
    ("airlock.integrations.executors.huey", "huey", "django-airlock[huey]"),
    ("airlock.integrations.huey", "huey", "django-airlock[huey]"),
    ("airlock.integrations.executors.django_q", "django_q", "django-airlock[django-q]"),
    ("airlock.integrations.django_q", "django_q", "django-airlock[django-q]"),
    ("airlock.integrations.executors.django_tasks", "django_tasks", "django-airlock[django-tasks]"),
    ("airlock.integrations.django_tasks", "django_tasks", "django-airlock[django-tasks]"),
]


@pytest.mark.parametrize(("module", "library", "extra"), CASES)
def test_missing_library_names_the_extra(monkeypatch, module, library, extra):
    # The libraries are installed here, so their absence is simulated: a None entry in
    # sys.modules makes `import library` raise ImportError, as on a machine without it.
    for name in list(sys.modules):
        if name == library or name.startswith(library + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, library, None)
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(ImportError, match=re.escape(f'pip install "{extra}"')):
        importlib.import_module(module)
