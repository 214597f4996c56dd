"""Process-wide defaults for ``scope()`` / ``scoped()``: configure, reset, inspect."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airlock.exceptions import UsageError

if TYPE_CHECKING:
    from airlock._scope import Scope
    from airlock.typing import Executor, Policy

__all__ = [
    "check_executor",
    "check_outside_scope",
    "check_policy",
    "configure",
    "get_configuration",
    "get_named_executor",
    "import_string",
    "register_executor",
    "reset_configuration",
    "resolve_executor",
    "resolve_policy",
]

_lock = threading.Lock()
_config: dict[str, Any] = {}

RAISE, ON_COMMIT = "raise", "on_commit"
OUTSIDE_SCOPE_MODES = (RAISE, ON_COMMIT)
"""The values of ``configure(outside_scope=...)`` (and of Django's ``AIRLOCK["OUTSIDE_SCOPE"]``)."""


def _defaults() -> dict[str, Any]:
    return {
        "scope_cls": None,
        "policy": None,
        "executor": None,
        "scope_kwargs": {},
        "executors": {},
        "outside_scope": RAISE,  # what enqueue does with no active scope (see airlock._outside)
        "strict": False,  # report queue publishes that bypass airlock (see airlock._strict)
        "resolved": None,  # (default executor, its prepare): see resolved_executor()
        "plain": None,  # the class scope() may build without arguments (see airlock.scope)
    }


def import_string(path: str) -> Any:
    """Import ``package.module.attr`` and return the attribute; a clear ImportError otherwise."""
    module_path, _, attr = path.rpartition(".")
    if not module_path:
        raise ImportError(f"{path!r} is not a dotted path; write it as 'package.module.name'")
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        raise ImportError(f"cannot import {path!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(
            f"cannot import {path!r}: module {module_path!r} has no {attr!r}"
        ) from None


def check_policy(value: Any) -> Policy:
    """Return ``value`` if it is a policy; a ``TypeError`` naming the missing methods otherwise."""
    if isinstance(value, type):
        raise TypeError(f"{value.__name__} is a class; pass a policy instance: {value.__name__}()")
    if not (
        callable(getattr(value, "allows", None)) and callable(getattr(value, "on_enqueue", None))
    ):
        raise TypeError(
            f"{value!r} is not a policy: a policy needs on_enqueue(intent) and allows(intent) "
            "methods (e.g. airlock.AllowAll())"
        )
    return value  # type: ignore[no-any-return]


def resolve_policy(value: Any) -> Policy:
    """A policy from an object, a class or a dotted path; ``TypeError``/``ImportError`` if not."""
    if isinstance(value, str):
        value = import_string(value)
    if isinstance(value, type):
        value = value()
    return check_policy(value)


def resolve_executor(value: Any, what: str = "executor") -> Executor:
    """An executor from a callable or a dotted path; ``TypeError``/``ImportError`` if not."""
    if isinstance(value, str):
        value = import_string(value)
    return check_executor(value, what)


def check_executor(value: Any, what: str = "executor") -> Executor:
    """Return ``value`` if it is callable; a ``TypeError`` saying what an executor is otherwise."""
    if not callable(value):
        raise TypeError(
            f"{what} {value!r} is not callable: an executor is a callable executor(intent), "
            "e.g. airlock.integrations.executors.sync.sync_executor"
        )
    return value  # type: ignore[no-any-return]


def check_outside_scope(value: Any) -> str:
    """Return ``value`` if it is an ``outside_scope`` mode; a ``ValueError`` naming them if not."""
    if value not in OUTSIDE_SCOPE_MODES or not isinstance(value, str):
        raise ValueError(
            f"outside_scope {value!r} is not one of {', '.join(map(repr, OUTSIDE_SCOPE_MODES))}: "
            "'raise' makes enqueue() with no active scope raise NoScopeError, 'on_commit' sends "
            "each such intent on its own once the current transaction commits"
        )
    return value


def _resolve_scope_cls(value: Any) -> type[Scope]:
    from airlock._scope import Scope

    if isinstance(value, str):
        value = import_string(value)
    if not (isinstance(value, type) and issubclass(value, Scope)):
        raise TypeError(f"scope_cls {value!r} is not a subclass of airlock.Scope")
    return value


def configure(
    *,
    scope_cls: type[Scope] | str | None = None,
    policy: Policy | str | None = None,
    executor: Executor | str | None = None,
    scope_kwargs: Mapping[str, Any] | None = None,
    executors: Mapping[str, Executor | str] | None = None,
    outside_scope: str | None = None,
    strict: bool | str | None = None,
) -> None:
    """Set process-wide defaults for ``scope()`` and ``scoped()``.

    Only the arguments given change; explicit arguments to ``scope()`` always win. Values may
    be objects or dotted import paths; a bad one raises ``TypeError``/``ImportError`` here.
    ``executors`` is the registry of named executors that
    ``_dispatch_options={"executor": "name"}`` picks from. ``outside_scope`` says what
    ``enqueue`` does with no active scope: ``"raise"`` (default, ``NoScopeError``) or
    ``"on_commit"`` (the intent gets a scope of its own: sent once the current transaction
    commits, at once outside one; a bad value is a ``ValueError``). ``strict``: ``False``,
    ``"warn"`` or ``"raise"`` (see docs/strict.md; a bad value is a ``ValueError``).
    """
    from airlock import _strict

    updates: dict[str, Any] = {}
    if scope_cls is not None:
        updates["scope_cls"] = _resolve_scope_cls(scope_cls)
    if policy is not None:
        updates["policy"] = resolve_policy(policy)
    if executor is not None:
        updates["executor"] = resolve_executor(executor)
    if scope_kwargs is not None:
        updates["scope_kwargs"] = dict(scope_kwargs)
    if executors is not None:
        updates["executors"] = {
            str(name): resolve_executor(ex, f"executor {name!r}") for name, ex in executors.items()
        }
    if outside_scope is not None:
        updates["outside_scope"] = check_outside_scope(outside_scope)
    if strict is not None:
        updates["strict"] = _strict.check_mode(strict)
    with _lock:
        _config.update(updates)
        _config["resolved"] = _config["plain"] = None
    if "strict" in updates:
        _strict.configure(updates["strict"])  # patches the queue libraries, or unpatches them


def register_executor(name: str, executor: Executor | str) -> None:
    """Add one named executor to the registry (``configure(executors=...)`` replaces it whole).

    ``_dispatch_options={"executor": name}`` then picks it; a name registered again is replaced.
    """
    resolved = resolve_executor(executor, f"executor {name!r}")
    with _lock:
        _config["executors"] = {**_config["executors"], str(name): resolved}


def reset_configuration() -> None:
    """Forget everything ``configure()`` set."""
    from airlock import _strict

    with _lock:
        _config.clear()
        _config.update(_defaults())
    _strict.configure(False)


def get_configuration() -> dict[str, Any]:
    """A copy of the current defaults: scope_cls, policy, executor, scope_kwargs, executors,
    outside_scope, strict."""
    with _lock:
        snapshot = dict(_config)
    del snapshot["resolved"], snapshot["plain"]
    snapshot["scope_kwargs"] = dict(snapshot["scope_kwargs"])
    snapshot["executors"] = dict(snapshot["executors"])
    return snapshot


def get_named_executor(name: str) -> Executor:
    """The executor registered under ``name``; ``UsageError`` naming the known ones otherwise."""
    registry: Mapping[str, Executor] = _config["executors"]
    try:
        return registry[name]
    except KeyError:
        known = ", ".join(sorted(registry)) or "none are registered"
        raise UsageError(
            f"unknown executor name {name!r} in _dispatch_options (known: {known}); register it "
            'with airlock.configure(executors={...}) or AIRLOCK["EXECUTORS"] in Django settings'
        ) from None


def default_executor() -> Executor:
    """The configured executor, else ``sync_executor``."""
    return resolved_executor()[0]


def resolved_executor() -> tuple[Executor, Any]:
    """``(default_executor(), its prepare or None)``, worked out once per configuration: every
    new scope needs both."""
    resolved: tuple[Executor, Any] | None = _config["resolved"]
    if resolved is None:
        executor: Executor | None = _config["executor"]
        if executor is None:
            from airlock.integrations.executors.sync import sync_executor

            executor = sync_executor
        resolved = _config["resolved"] = (executor, getattr(executor, "prepare", None))
    return resolved


def current() -> dict[str, Any]:
    """The live configuration dict (read-only use; internal)."""
    return _config


reset_configuration()
