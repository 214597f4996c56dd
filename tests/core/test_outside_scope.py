"""enqueue with no active scope: configure(outside_scope=...), and the ambient scope."""

from __future__ import annotations

import pytest

import airlock
from airlock import _ambient, _outside
from airlock.exceptions import NoScopeError
from tests.core.conftest import Recorder


def send_email(to: str) -> None:
    raise AssertionError("the executor records, it does not run tasks")


@pytest.fixture(autouse=True)
def _fresh(fresh_configuration: None) -> None:
    """Every test starts from the defaults (restored afterwards by the suite's conftest)."""


def test_raise_is_the_default_and_the_message_names_the_setting():
    assert airlock.get_configuration()["outside_scope"] == "raise"
    with pytest.raises(NoScopeError) as info:
        airlock.enqueue(send_email, "a")
    assert "AIRLOCK['OUTSIDE_SCOPE'] = 'on_commit'" in str(info.value)
    assert "airlock.configure(outside_scope='on_commit')" in str(info.value)


def test_on_commit_gives_each_intent_a_scope_of_its_own():
    recorder = Recorder()
    airlock.configure(executor=recorder, outside_scope="on_commit")
    first = airlock.enqueue(send_email, "a")
    assert recorder.intents == [first]  # no transaction to wait for: sent at once
    second = airlock.enqueue(send_email, "b", _key="k", _dispatch_options={"queue": "mail"})
    assert recorder.intents == [first, second] and second.dispatch_options == {"queue": "mail"}
    assert airlock.get_current_scope() is None


def test_on_commit_keeps_the_local_policies_of_a_policy_block():
    recorder = Recorder()
    airlock.configure(executor=recorder, outside_scope="on_commit")
    with airlock.policy(airlock.BlockTasks({"send_email"})):
        airlock.enqueue(send_email, "blocked")
    assert recorder.intents == []


def test_on_commit_on_a_plain_scope_fails_fast_into_the_caller():
    airlock.configure(executor=Recorder(fail_on=1), outside_scope="on_commit")
    with pytest.raises(airlock.DispatchError):
        airlock.enqueue(send_email, "a")


def test_override_applies_to_this_context_only_and_is_checked():
    recorder = Recorder()
    airlock.configure(executor=recorder)
    with _outside.override("on_commit"):
        airlock.enqueue(send_email, "a")
    assert len(recorder.intents) == 1
    with pytest.raises(NoScopeError):
        airlock.enqueue(send_email, "b")
    with pytest.raises(ValueError, match="is not one of 'raise', 'on_commit'"):
        _outside.override("commit").__enter__()


@pytest.mark.parametrize("value", ["commit", "ON_COMMIT", True])
def test_a_bad_outside_scope_is_a_value_error(value):
    with pytest.raises(ValueError, match=r"outside_scope .* is not one of 'raise', 'on_commit'"):
        airlock.configure(outside_scope=value)
    assert airlock.get_configuration()["outside_scope"] == "raise"


def test_reset_configuration_goes_back_to_raise():
    airlock.configure(outside_scope="on_commit")
    airlock.reset_configuration()
    assert airlock.get_configuration()["outside_scope"] == "raise"


def test_an_ambient_scope_keeps_only_what_has_no_scope_of_its_own():
    recorder = Recorder()
    airlock.configure(executor=recorder)
    with _ambient.open_scope() as ambient:
        airlock.enqueue(send_email, "unscoped")
        with airlock.scope():
            airlock.enqueue(send_email, "scoped")
        assert recorder.calls == ["send_email('scoped')"]  # flushed on its own, not captured
        assert [str(i) for i in ambient.intents] == ["send_email('unscoped')"]
    assert recorder.calls == ["send_email('scoped')", "send_email('unscoped')"]


def test_an_inner_policy_still_holds_under_an_ambient_scope():
    recorder = Recorder()
    airlock.configure(executor=recorder)
    with _ambient.open_scope(), airlock.scope(policy=airlock.DropAll()) as dry:
        airlock.enqueue(send_email, "dry run")
    assert recorder.intents == [] and len(dry.dropped) == 1


def test_a_lazy_ambient_scope_builds_nothing_until_something_is_enqueued():
    lazy = _ambient.lazy().enter()
    lazy.finish(None)
    assert lazy.scope is None
