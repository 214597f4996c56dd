"""Hints for the system checks: the key a user probably meant, the object a module offers.

Pure helpers shared by the ``AIRLOCK`` and ``AIRLOCK["OUTBOX"]`` checks; they never raise.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from collections.abc import Iterable
from types import ModuleType

__all__ = ["closest", "module_instead"]


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` most likely means: the same letters in another case, else a near one.

    Case never matters: ``"executor"`` finds ``"EXECUTOR"``, ``"defualt"`` finds ``"default"``.
    """
    by_fold = {option.casefold(): option for option in choices}
    if word.casefold() in by_fold:
        return by_fold[word.casefold()]
    near = difflib.get_close_matches(word.casefold(), list(by_fold), n=1, cutoff=0.6)
    return by_fold[near[0]] if near else None


def _module(path: str) -> ModuleType | Exception | None:
    """The module at ``path``, the error importing it raised, or None when it is no module."""
    try:
        if importlib.util.find_spec(path) is None:
            return None
    except (ImportError, ValueError):  # a parent is missing, or is not a package
        return None
    try:
        return importlib.import_module(path)
    except Exception as exc:  # it exists but fails, e.g. an extra that is not installed
        return exc


def module_instead(value: object, what: str = "executor") -> str | None:
    """A message when ``value`` is the dotted path of a module where a ``what`` was wanted.

    Names the module's public objects whose name ends with ``what`` (``celery_executor`` in
    ``airlock.integrations.executors.celery``, not the class ``CeleryExecutor``); None when
    ``value`` is not the path of a module.
    """
    if not isinstance(value, str) or "." not in value:
        return None
    module = _module(value)
    if module is None:
        return None
    if isinstance(module, Exception):
        return f"{value!r} is a module, not {_a(what)}, and importing it fails: {module}"
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    offered = [
        f"{value}.{name}"
        for name in sorted(names)
        if name.lower().endswith(what) and _usable(getattr(module, name, None), what)
    ]
    if offered:
        return f"{value!r} is a module, not {_a(what)}; did you mean {' or '.join(offered)}?"
    return f"{value!r} is a module, not {_a(what)}; name the {what} inside it ('{value}.name')"


def _usable(found: object, what: str) -> bool:
    # A scope is a class; an executor class (CeleryExecutor) is not itself an executor.
    if what == "executor":
        return callable(found) and not isinstance(found, type)
    return isinstance(found, type) if what == "scope" else callable(found)


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"
