"""airlock.enqueue: what it records, and every way it refuses (SPEC §2, first row)."""

from __future__ import annotations

import contextvars
import threading

import pytest

import airlock
from airlock.exceptions import NoScopeError, PolicyEnqueueError, UsageError
from tests.failures import raises_dispatch

from .conftest import Recorder, notify, send_email


def test_enqueue_records_an_intent_in_the_current_scope_and_returns_it(recorder):
    with airlock.scope(executor=recorder) as scope:
        intent = airlock.enqueue(send_email, 7, subject="hi")
        assert isinstance(intent, airlock.Intent)
        assert scope.intents == [intent]
        assert (intent.task, intent.args, intent.kwargs) == (send_email, (7,), {"subject": "hi"})
        assert recorder.intents == []
    assert recorder.intents == [intent]


def test_enqueue_passes_underscore_arguments_into_the_intent_not_the_kwargs():
    with airlock.scope(executor=Recorder()):
        intent = airlock.enqueue(
            send_email, _name="mail", _origin="orders.ship", _key="k1",
            _dispatch_options={"queue": "mail"}, to="a@b.c",
        )
    assert intent.name == "mail"
    assert intent.origin == "orders.ship"
    assert intent.key == "k1"
    assert dict(intent.dispatch_options) == {"queue": "mail"}
    assert intent.kwargs == {"to": "a@b.c"}


def test_a_keyword_argument_called_task_reaches_the_task():
    with airlock.scope(executor=Recorder()):
        intent = airlock.enqueue(send_email, task="report")
    assert intent.kwargs == {"task": "report"}


def test_dispatch_options_are_copied_so_later_mutation_does_not_leak_in():
    options = {"queue": "mail"}
    with airlock.scope(executor=Recorder()):
        intent = airlock.enqueue(send_email, _dispatch_options=options)
        options["queue"] = "other"
    assert intent.dispatch_options["queue"] == "mail"
    with pytest.raises(TypeError):
        intent.dispatch_options["queue"] = "x"  # type: ignore[index]


def test_non_mapping_dispatch_options_are_a_type_error_naming_the_fix():
    with airlock.scope(executor=Recorder()) as scope:
        with pytest.raises(TypeError, match=r"_dispatch_options must be a mapping.*'queue'"):
            airlock.enqueue(send_email, _dispatch_options=["queue", "mail"])
        assert scope.intents == []


@pytest.mark.parametrize("task", [None, 42, "tasks.send_email", send_email(1)])
def test_a_task_that_is_not_callable_is_a_type_error_at_once(task):
    with airlock.scope(executor=Recorder()) as scope:
        with pytest.raises(TypeError, match=r"needs a callable.*Pass the task itself"):
            airlock.enqueue(task)
        assert scope.intents == []


def test_the_type_error_comes_first_even_without_a_scope():
    with pytest.raises(TypeError, match="needs a callable"):
        airlock.enqueue("not a task")


def test_a_non_callable_queue_task_object_is_accepted():
    class Signature(dict):  # what a Celery signature looks like: a dict with apply_async
        def apply_async(self, *args, **kwargs):
            raise AssertionError("not sent inside the scope")

    signature = Signature(task="proj.tasks.send_email")
    with airlock.scope(executor=Recorder()) as scope:
        intent = airlock.enqueue(signature)
    assert scope.dispatched == [intent]
    assert intent.name == "send_email"


def test_enqueue_without_a_scope_is_a_no_scope_error_naming_the_fix():
    with pytest.raises(NoScopeError, match=r"no active scope.*airlock\.scope\(\).*scoped\(\)"):
        airlock.enqueue(send_email)
    assert issubclass(NoScopeError, UsageError)


def test_enqueue_in_a_local_policy_block_without_a_scope_is_a_no_scope_error():
    with airlock.policy(airlock.AllowAll()):
        with pytest.raises(NoScopeError, match="no active scope"):
            airlock.enqueue(send_email)


def test_enqueue_after_the_scope_ended_is_a_no_scope_error():
    with airlock.scope(executor=Recorder()):
        pass
    with pytest.raises(NoScopeError):
        airlock.enqueue(send_email)


def test_enqueue_into_a_finished_scope_from_a_thread_that_outlived_it_is_a_state_error():
    errors = []
    with airlock.scope(executor=Recorder()) as scope:
        context = contextvars.copy_context()  # what a thread started inside a request inherits

    def late_worker():
        try:
            airlock.enqueue(send_email, 1)
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=context.run, args=(late_worker,))
    thread.start()
    thread.join()
    assert len(errors) == 1
    assert isinstance(errors[0], airlock.ScopeStateError)
    assert "flushed" in str(errors[0]) and "outlived" in str(errors[0])
    assert scope.intents == []


class EnqueuesInOnEnqueue:
    def on_enqueue(self, intent):
        airlock.enqueue(notify, "from policy")

    def allows(self, intent):
        return True


class EnqueuesInAllows:
    def on_enqueue(self, intent):
        pass

    def allows(self, intent):
        airlock.enqueue(notify, "from policy")
        return True


def test_enqueue_from_a_policy_on_enqueue_is_a_policy_enqueue_error():
    with airlock.scope(EnqueuesInOnEnqueue(), executor=Recorder()) as scope:
        with pytest.raises(PolicyEnqueueError, match=r"policy callback.*application code"):
            airlock.enqueue(send_email)
    assert scope.intents == [] and scope.dispatched == []


def test_enqueue_from_a_local_policy_on_enqueue_is_a_policy_enqueue_error():
    with airlock.scope(executor=Recorder()) as scope:
        with airlock.policy(EnqueuesInOnEnqueue()):
            with pytest.raises(PolicyEnqueueError):
                airlock.enqueue(send_email)
    assert scope.dispatched == []


def test_enqueue_from_a_policy_allows_at_flush_is_a_policy_enqueue_error():
    recorder = Recorder()
    with raises_dispatch(PolicyEnqueueError, "policy callback"):
        with airlock.scope(EnqueuesInAllows(), executor=recorder):
            airlock.enqueue(send_email)
    assert recorder.intents == []
    assert issubclass(PolicyEnqueueError, UsageError)


def test_enqueue_from_a_local_policy_allows_at_flush_is_a_policy_enqueue_error():
    with raises_dispatch(PolicyEnqueueError):
        with airlock.scope(executor=Recorder()):
            with airlock.policy(EnqueuesInAllows()):
                airlock.enqueue(send_email)


def test_enqueue_works_again_after_a_policy_callback_refused_one():
    with airlock.scope(executor=Recorder()) as scope:
        with airlock.policy(EnqueuesInOnEnqueue()), pytest.raises(PolicyEnqueueError):
            airlock.enqueue(send_email)
        intent = airlock.enqueue(notify)
    assert scope.dispatched == [intent]


def test_a_policy_violation_at_enqueue_propagates_and_the_intent_is_not_buffered():
    with airlock.scope(airlock.BlockTasks({"send_email"}, raise_on_enqueue=True),
                       executor=Recorder()) as scope:
        with pytest.raises(airlock.PolicyViolation, match="send_email"):
            airlock.enqueue(send_email)
        kept = airlock.enqueue(notify)
        assert scope.intents == [kept]


def test_the_executor_prepare_hook_runs_at_enqueue_and_its_result_is_buffered():
    class Delaying(Recorder):
        def prepare(self, intent):
            return intent.replace(dispatch_options={"eta": 100 + intent.args[0]})

    executor = Delaying()
    with airlock.scope(executor=executor) as scope:
        intent = airlock.enqueue(send_email, 5)
        assert intent.dispatch_options == {"eta": 105}
        assert scope.intents == [intent]
    assert executor.intents == [intent]


def test_an_executor_prepare_that_rejects_arguments_fails_the_enqueue():
    class Strict(Recorder):
        def prepare(self, intent):
            raise TypeError("argument 0 (an object) is not JSON serializable")

    with airlock.scope(executor=Strict()) as scope:
        with pytest.raises(TypeError, match="JSON serializable"):
            airlock.enqueue(send_email, object())
        assert scope.intents == []


def test_prepare_also_runs_when_the_intent_has_dispatch_options():
    seen = []

    class Preparing(Recorder):
        def prepare(self, intent):
            seen.append(dict(intent.dispatch_options))
            return intent

    with airlock.scope(executor=Preparing()):
        airlock.enqueue(send_email, _dispatch_options={"queue": "q"})
    assert seen == [{"queue": "q"}]


def test_plain_and_special_enqueues_keep_one_fifo_order():
    # Plain enqueues take a shortcut; keys, options and local policies take the full path.
    recorder = Recorder()
    with airlock.scope(executor=recorder):
        airlock.enqueue(send_email, 1)
        airlock.enqueue(send_email, 2, _key="k")
        airlock.enqueue(send_email, 3, _dispatch_options={"queue": "q"})
        with airlock.policy(airlock.AllowAll()):
            airlock.enqueue(send_email, 4)
        airlock.enqueue(send_email, 5, _name="renamed")
    assert recorder.calls == [
        "send_email(1)", "send_email(2)", "send_email(3)", "send_email(4)", "renamed(5)"]


def test_an_event_listener_subscribed_inside_a_scope_sees_the_enqueues_after_it():
    from airlock import _events

    seen = []
    with airlock.scope(executor=Recorder()):
        airlock.enqueue(send_email, "before")
        unsubscribe = _events.subscribe(lambda event, intent, *_: seen.append((event, str(intent))))
        try:
            airlock.enqueue(send_email, "after")
        finally:
            unsubscribe()
    assert seen == [("enqueued", "send_email('after')")]


def test_kwargs_is_a_dict_even_when_none_were_given():
    with airlock.scope(executor=Recorder()):
        intent = airlock.enqueue(send_email)
    assert intent.kwargs == {} and type(intent.kwargs) is dict
    assert str(intent) == "send_email()"
