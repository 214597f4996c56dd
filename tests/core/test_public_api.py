"""The public surface of ``import airlock``: names from SPEC §2, sorted ``__all__``, errors."""

from __future__ import annotations

import inspect
import types
import typing

import airlock
from airlock import exceptions

SPEC_NAMES = {
    "enqueue", "scope", "scoped", "policy", "configure", "reset_configuration",
    "get_configuration", "get_current_scope", "register_executor", "Scope", "Intent", "Policy",
    "Executor",
    "AllowAll", "DropAll", "AssertNoEffects", "BlockTasks", "LogOnFlush",
    "AirlockError", "UsageError", "NoScopeError", "PolicyEnqueueError", "ScopeStateError",
    "PolicyViolation", "DispatchError",
}


def public_names(module: types.ModuleType) -> set[str]:
    return {
        name for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }


def test_all_is_sorted():
    assert airlock.__all__ == sorted(airlock.__all__)


def test_all_lists_exactly_the_public_names():
    assert set(airlock.__all__) == public_names(airlock)
    assert len(airlock.__all__) == len(set(airlock.__all__))


def test_every_spec_name_is_exported():
    assert set(airlock.__all__) == SPEC_NAMES


def test_the_error_tree_matches_the_spec():
    assert issubclass(airlock.AirlockError, Exception)
    for name in ("UsageError", "ScopeStateError", "PolicyViolation", "DispatchError"):
        assert getattr(airlock, name).__bases__ == (airlock.AirlockError,)
    for name in ("NoScopeError", "PolicyEnqueueError"):
        assert getattr(airlock, name).__bases__ == (airlock.UsageError,)
    assert exceptions.__all__ == sorted(exceptions.__all__)


def test_dispatch_error_carries_the_failed_intents():
    error = airlock.DispatchError("2 failed", [(None, ValueError("x"))])
    assert str(error) == "2 failed" and isinstance(error.errors[0][1], ValueError)
    assert airlock.DispatchError("none").errors == []


def test_enqueue_signature_matches_the_spec():
    params = inspect.signature(airlock.enqueue).parameters
    assert list(params) == [
        "task", "args", "_name", "_origin", "_dispatch_options", "_key", "kwargs"]
    assert params["task"].kind is inspect.Parameter.POSITIONAL_ONLY
    assert all(params[p].default is None for p in ("_name", "_origin", "_dispatch_options", "_key"))


def test_scope_has_the_spec_methods_and_properties():
    for name in ("enter", "exit", "flush", "discard", "should_flush",
                 "before_descendant_flushes", "dispatch"):
        assert callable(getattr(airlock.Scope, name)), name
    for name in ("intents", "own_intents", "captured_intents", "is_active", "is_flushed",
                 "is_discarded"):
        assert isinstance(getattr(airlock.Scope, name), property), name


def test_the_policy_protocol_accepts_duck_typed_objects():
    class Duck:
        def on_enqueue(self, intent):
            pass

        def allows(self, intent):
            return True

    assert isinstance(Duck(), airlock.Policy)
    assert not isinstance(object(), airlock.Policy)


def test_public_functions_and_classes_have_docstrings():
    for name in airlock.__all__:
        obj = getattr(airlock, name)
        # A type alias such as Executor = Callable[[Intent], object] is no class (though Python
        # 3.10's inspect.isclass says it is) and cannot carry a docstring of its own.
        if typing.get_origin(obj) is not None:
            continue
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert (obj.__doc__ or "").strip(), name


def test_the_package_is_typed():
    from importlib import resources

    assert resources.files("airlock").joinpath("py.typed").is_file()
