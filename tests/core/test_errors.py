"""The error tree: every exception class airlock defines is an ``AirlockError``.

The classes are found by importing every module of the package (in a fresh interpreter, with
Django set up, so nothing leaks into this process) rather than by a list that could go stale.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys

import pytest

import airlock
from airlock import exceptions
from tests.processes import ROOT

# Exceptions that never leave airlock: raised and caught inside one function.
INTERNAL = {
    "airlock.integrations.executors._batch.NotBatchable",
    # control flow inside the dramatiq Redis path; always turned into BatchDispatchError there
    "airlock.integrations.executors._dramatiq_redis.InDoubt",
    "airlock.integrations.executors._dramatiq_redis.Unsent",
}

WALK = """
import importlib, inspect, json, pkgutil, sys
import django
django.setup()
import airlock
from airlock.exceptions import AirlockError, MissingExtraError

found, skipped = {}, []
for info in pkgutil.walk_packages(airlock.__path__, "airlock."):
    try:
        module = importlib.import_module(info.name)
    except MissingExtraError as exc:  # an extra not installed here: its module is skipped
        skipped.append(info.name)
        continue
    for value in vars(module).values():
        if inspect.isclass(value) and issubclass(value, BaseException):
            if value.__module__.startswith("airlock") and not issubclass(value, Warning):
                found[f"{value.__module__}.{value.__qualname__}"] = issubclass(value, AirlockError)
print(json.dumps({"found": found, "skipped": skipped}))
"""


def walk_exception_classes() -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", WALK], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_every_exception_class_in_the_package_is_an_airlock_error():
    walked = walk_exception_classes()
    found: dict[str, bool] = walked["found"]  # type: ignore[assignment]
    outside = sorted(name for name, inside in found.items() if not inside and name not in INTERNAL)
    assert outside == [], f"not under AirlockError: {outside}"
    # The walk did reach the integrations (not just airlock.exceptions):
    assert "airlock.integrations._task_scopes.TaskFailed" in found
    skipped: list[str] = walked["skipped"]  # type: ignore[assignment]
    reachable = {name for name in INTERNAL if name.rsplit(".", 1)[0] not in skipped}
    assert reachable <= set(found)


@pytest.mark.parametrize(
    ("module", "name", "builtin"),
    [
        ("airlock.executors", "CircuitOpenError", airlock.DispatchError),
        ("airlock.integrations.executors", "BatchDispatchError", airlock.DispatchError),
        ("airlock.integrations.executors._batch", "BatchDispatchError", airlock.DispatchError),
        ("airlock.integrations.executors.webhook", "WebhookError", airlock.DispatchError),
        ("airlock.integrations.executors.webhook", "WebhookVerificationError", ValueError),
        ("airlock.integrations.django.outbox.registry", "UnknownTask", LookupError),
        ("airlock.integrations.django.outbox.relay", "BadRow", ValueError),
    ],
)
def test_moved_errors_keep_their_old_import_path_and_builtin_base(module, name, builtin):
    cls = getattr(importlib.import_module(module), name)
    assert cls is getattr(exceptions, name)
    assert issubclass(cls, airlock.AirlockError) and issubclass(cls, builtin)


def test_new_errors_are_also_the_builtin_users_already_catch():
    assert issubclass(exceptions.UnknownOptionError, airlock.UsageError)
    assert issubclass(exceptions.UnknownOptionError, TypeError)
    assert issubclass(exceptions.MissingExtraError, ImportError)
    error = exceptions.UnknownOptionError("x: unknown", unknown=["b", "a"], known={"d", "c"})
    assert (str(error), error.unknown, error.known) == ("x: unknown", ["a", "b"], ["c", "d"])


def test_the_docstring_tree_names_every_exported_error():
    tree = exceptions.__doc__ or ""
    for name in exceptions.__all__:
        if issubclass(getattr(exceptions, name), Warning):  # a warning: named below the tree
            assert f"``{name}``" in tree, name
            continue
        assert re.search(rf"(─ |    ){name}\b", tree), name


def test_exceptions_exports_exactly_its_classes():
    classes = {
        name for name, value in vars(exceptions).items()
        if isinstance(value, type) and issubclass(value, BaseException)
        and value.__module__ == exceptions.__name__ and not name.startswith("_")
    }
    assert set(exceptions.__all__) == classes
