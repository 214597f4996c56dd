"""configure / reset_configuration / get_configuration, and named executors (SPEC §2)."""

from __future__ import annotations

import pytest

import airlock
from airlock.exceptions import UsageError
from airlock.integrations.executors.sync import sync_executor
from tests.failures import raises_dispatch

from .conftest import Recorder, send_email

RECORDER = Recorder()  # importable by dotted path: tests.core.test_config.RECORDER


class LabelledScope(airlock.Scope):
    def __init__(self, policy=None, *, executor=None, label="default", tenant=None):
        super().__init__(policy, executor=executor)
        self.label, self.tenant = label, tenant


def test_the_defaults_are_empty():
    assert airlock.get_configuration() == {
        "scope_cls": None, "policy": None, "executor": None, "scope_kwargs": {}, "executors": {},
        "outside_scope": "raise", "strict": False}


def test_configured_defaults_are_used_by_scope_and_scoped():
    recorder, policy = Recorder(), airlock.BlockTasks({"print"})
    airlock.configure(scope_cls=LabelledScope, policy=policy, executor=recorder,
                      scope_kwargs={"label": "web"})
    with airlock.scope() as scope:
        airlock.enqueue(send_email)
        airlock.enqueue(print)
    assert type(scope) is LabelledScope and scope.label == "web"
    assert scope.policy is policy and scope.executor is recorder
    assert recorder.calls == ["send_email()"]

    @airlock.scoped()
    def job():
        return airlock.get_current_scope()

    assert type(job()) is LabelledScope


def test_explicit_arguments_always_win_over_the_configuration():
    airlock.configure(scope_cls=LabelledScope, policy=airlock.DropAll(), executor=Recorder(),
                      scope_kwargs={"label": "web", "tenant": "a"})
    mine, policy = Recorder(), airlock.AllowAll()
    scope = airlock.scope(policy, executor=mine, _cls=LabelledScope, label="cli")
    assert scope.policy is policy and scope.executor is mine
    assert (scope.label, scope.tenant) == ("cli", "a")


def test_configure_changes_only_what_it_is_given():
    recorder = Recorder()
    airlock.configure(executor=recorder)
    airlock.configure(policy=airlock.DropAll())
    config = airlock.get_configuration()
    assert config["executor"] is recorder and isinstance(config["policy"], airlock.DropAll)


def test_dotted_paths_are_imported_and_a_policy_class_is_instantiated():
    airlock.configure(
        scope_cls="tests.core.test_config.LabelledScope",
        policy="airlock.DropAll",
        executor="airlock.integrations.executors.sync.sync_executor",
        executors={"rec": "tests.core.test_config.RECORDER"},
    )
    config = airlock.get_configuration()
    assert config["scope_cls"] is LabelledScope
    assert isinstance(config["policy"], airlock.DropAll)
    assert config["executor"] is sync_executor
    assert config["executors"] == {"rec": RECORDER}


def test_reset_configuration_forgets_everything():
    airlock.configure(policy=airlock.DropAll(), executor=Recorder(), executors={"x": Recorder()})
    airlock.reset_configuration()
    assert airlock.get_configuration()["policy"] is None
    assert airlock.scope().executor is sync_executor
    assert isinstance(airlock.scope().policy, airlock.AllowAll)


def test_get_configuration_returns_a_copy():
    airlock.configure(scope_kwargs={"label": "web"}, executors={"x": RECORDER})
    config = airlock.get_configuration()
    config["policy"] = airlock.DropAll()
    config["scope_kwargs"]["label"] = "changed"
    config["executors"]["y"] = RECORDER
    fresh = airlock.get_configuration()
    assert fresh["policy"] is None
    assert fresh["scope_kwargs"] == {"label": "web"}
    assert fresh["executors"] == {"x": RECORDER}


def test_scope_kwargs_given_to_configure_are_copied():
    kwargs = {"label": "web"}
    airlock.configure(scope_cls=LabelledScope, scope_kwargs=kwargs)
    kwargs["label"] = "changed"
    assert airlock.scope().label == "web"


def test_a_scope_keeps_the_executor_it_was_created_with():
    first, second = Recorder(), Recorder()
    airlock.configure(executor=first)
    with airlock.scope():
        airlock.enqueue(send_email)
        airlock.configure(executor=second)
    assert len(first.intents) == 1 and second.intents == []


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"policy": object()}, TypeError, r"is not a policy: a policy needs on_enqueue"),
        ({"policy": "airlock.Scope"}, TypeError, "is not a policy"),
        ({"executor": 42}, TypeError, r"executor 42 is not callable: an executor is a callable"),
        ({"executors": {"mail": 1}}, TypeError, r"executor 'mail' 1 is not callable"),
        ({"scope_cls": dict}, TypeError, r"is not a subclass of airlock\.Scope"),
        ({"scope_cls": "airlock.AllowAll"}, TypeError, r"is not a subclass of airlock\.Scope"),
        ({"policy": "airlock.NoSuch"}, ImportError, r"module 'airlock' has no 'NoSuch'"),
        ({"executor": "no_such_module.run"}, ImportError, r"cannot import 'no_such_module\.run'"),
        ({"executor": "sync_executor"}, ImportError, r"not a dotted path; write it as 'package"),
    ],
)
def test_bad_values_raise_at_configure_with_a_clear_message(kwargs, error, message):
    with pytest.raises(error, match=message):
        airlock.configure(**kwargs)
    assert airlock.get_configuration()["policy"] is None  # nothing half-applied


def test_a_bad_value_leaves_the_other_arguments_unapplied():
    with pytest.raises(TypeError):
        airlock.configure(policy=airlock.DropAll(), executor=42)
    assert airlock.get_configuration()["policy"] is None


# -- named executors ----------------------------------------------------------------------------


def test_a_named_executor_receives_its_intents_without_the_executor_option():
    default, mail = Recorder(), Recorder()
    airlock.configure(executors={"mail": mail})
    with airlock.scope(executor=default) as scope:
        routed = airlock.enqueue(send_email, 1, _dispatch_options={"executor": "mail", "q": "m"})
        plain = airlock.enqueue(send_email, 2)
    assert default.intents == [plain]
    assert [dict(i.dispatch_options) for i in mail.intents] == [{"q": "m"}]
    assert mail.intents[0].id == routed.id
    assert scope.dispatched == [routed, plain]
    assert (default.after_flush_calls, mail.after_flush_calls) == (1, 1)


def test_a_named_executor_prepare_runs_at_enqueue():
    class Preparing(Recorder):
        def prepare(self, intent):
            return intent.replace(origin="prepared by mail")

    airlock.configure(executors={"mail": Preparing()})
    with airlock.scope(executor=Recorder()):
        intent = airlock.enqueue(send_email, _dispatch_options={"executor": "mail"})
    assert intent.origin == "prepared by mail"


def test_no_executor_sees_airlocks_own_options_in_prepare_or_call_but_the_intent_keeps_them():
    # A strict executor (like the queue executors) rejects options it does not know.
    class Strict(Recorder):
        def prepare(self, intent):
            assert set(intent.dispatch_options) == {"queue"}, dict(intent.dispatch_options)
            return intent.replace(dispatch_options={**intent.dispatch_options, "eta": 1})

        def __call__(self, intent):
            assert set(intent.dispatch_options) == {"queue", "eta"}, dict(intent.dispatch_options)
            super().__call__(intent)

    mail = Strict()
    airlock.configure(executors={"mail": mail})
    options = {"executor": "mail", "durable": True, "queue": "m"}
    with airlock.scope(executor=Strict()) as scope:
        routed = airlock.enqueue(send_email, 1, _dispatch_options=options)
        own = airlock.enqueue(send_email, 2, _dispatch_options={"durable": True, "queue": "d"})
        buffered = {k: dict(i.dispatch_options) for k, i in zip("ro", scope.intents)}
    assert buffered == {"r": {**options, "eta": 1}, "o": {"durable": True, "queue": "d", "eta": 1}}
    assert [i.id for i in mail.intents] == [routed.id]
    assert scope.dispatched == [routed, own]


def test_an_unknown_executor_name_is_a_usage_error_at_enqueue_naming_the_known_ones():
    airlock.configure(executors={"mail": Recorder(), "sms": Recorder()})
    with airlock.scope(executor=Recorder()) as scope:
        with pytest.raises(UsageError, match=r"unknown executor name 'mial'.*known: mail, sms.*"
                                             r"airlock\.configure\(executors="):
            airlock.enqueue(send_email, _dispatch_options={"executor": "mial"})
        assert scope.intents == []


def test_an_unknown_executor_name_with_none_registered_says_so():
    with airlock.scope(executor=Recorder()):
        with pytest.raises(UsageError, match="none are registered"):
            airlock.enqueue(send_email, _dispatch_options={"executor": "mail"})


def test_a_failing_named_executor_stops_the_flush_like_any_other():
    default, mail = Recorder(), Recorder(fail_on=1)
    airlock.configure(executors={"mail": mail})
    with raises_dispatch(RuntimeError), airlock.scope(executor=default):
        airlock.enqueue(send_email, 1, _dispatch_options={"executor": "mail"})
        airlock.enqueue(send_email, 2)
    assert default.intents == [] and mail.after_flush_calls == 1


def test_fail_fast_with_mixed_executors_records_exactly_what_went_out_in_order():
    default, mail = Recorder(fail_on=3), Recorder()
    airlock.configure(executors={"mail": mail})
    with raises_dispatch(RuntimeError), airlock.scope(executor=default) as scope:
        first = airlock.enqueue(send_email, 1)
        routed = airlock.enqueue(send_email, 2, _dispatch_options={"executor": "mail"})
        second = airlock.enqueue(send_email, 3)
        airlock.enqueue(send_email, 4)  # the default executor's third call fails
        airlock.enqueue(send_email, 5)
    assert scope.dispatched == [first, routed, second]
    assert (default.after_flush_calls, mail.after_flush_calls) == (1, 1)
