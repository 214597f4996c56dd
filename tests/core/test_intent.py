"""Intent: an immutable, slotted, unhashable record with a cheap unique id (SPEC §2.1)."""

from __future__ import annotations

import functools
import os
import pickle
import subprocess
import sys

import pytest

import airlock
from airlock import Intent

from .conftest import send_email


def send_receipt(order_id: int) -> None:
    """A module-level task, so intents naming it pickle."""


def test_intent_can_be_built_directly_with_every_other_field_optional():
    intent = Intent(task=send_receipt, args=(1,), kwargs={"x": 2})
    assert intent.task is send_receipt
    assert intent.args == (1,) and intent.kwargs == {"x": 2}
    assert intent.name == "send_receipt"
    assert intent.origin is None and intent.key is None
    assert intent.dispatch_options == {} and intent.dispatch_options.get("queue") is None
    assert intent.local_policies == ()
    assert isinstance(intent.id, str) and intent.id


def test_only_the_task_is_required():
    intent = Intent(send_receipt)
    assert (intent.args, intent.kwargs) == ((), {})


def test_all_fields_can_be_given():
    policy = airlock.DropAll()
    intent = Intent(task=send_receipt, args=[1], kwargs={"a": 1}, name="receipt", origin="shop",
                    dispatch_options={"queue": "mail"}, key="k", id="my-id",
                    local_policies=[policy])
    assert intent.args == (1,)  # normalised to a tuple
    assert (intent.name, intent.origin, intent.key, intent.id) == ("receipt", "shop", "k", "my-id")
    assert dict(intent.dispatch_options) == {"queue": "mail"}
    assert intent.local_policies == (policy,)


def test_constructor_copies_kwargs_and_options():
    kwargs, options = {"a": 1}, {"queue": "mail"}
    intent = Intent(send_receipt, kwargs=kwargs, dispatch_options=options)
    kwargs["a"], options["queue"] = 2, "other"
    assert intent.kwargs == {"a": 1} and intent.dispatch_options == {"queue": "mail"}


def test_enqueue_fills_every_field():
    with airlock.scope(executor=lambda intent: None):
        with airlock.policy(airlock.AllowAll()) as local:
            intent = airlock.enqueue(send_receipt, 7, _origin="orders", _key="k", flag=True)
    assert (intent.task, intent.args, intent.kwargs) == (send_receipt, (7,), {"flag": True})
    assert (intent.name, intent.origin, intent.key) == ("send_receipt", "orders", "k")
    assert intent.dispatch_options == {} and intent.local_policies == (local,)


def test_dispatch_options_is_always_a_read_only_mapping():
    intent = Intent(send_receipt, dispatch_options={"queue": "mail"})
    with pytest.raises(TypeError):
        intent.dispatch_options["queue"] = "x"  # type: ignore[index]
    assert Intent(send_receipt, dispatch_options=None).dispatch_options == {}


@pytest.mark.parametrize(
    ("task", "name"),
    [
        (send_receipt, "send_receipt"),
        (type("CeleryTask", (), {"name": "shop.tasks.mail", "__call__": print})(), "mail"),
        (type("Actor", (), {"actor_name": "charge", "fn": print})(), "charge"),
        ({"task": "shop.tasks.refund", "args": ()}, "refund"),
        (functools.partial(send_receipt, 1), "send_receipt"),
        (type("Callable", (), {"__call__": print})(), "Callable"),
    ],
)
def test_name_is_the_tasks_short_name(task, name):
    assert Intent(task).name == name
    assert Intent(task, name="given").name == "given"


def test_str_reads_like_a_call_and_repr_shows_key_and_options_too():
    intent = Intent(send_receipt, args=(7, "x"), kwargs={"order_id": 7},
                    dispatch_options={"queue": "mail"}, key="k", id="abc")
    assert str(Intent(send_receipt, kwargs={"order_id": 7})) == "send_receipt(order_id=7)"
    assert str(intent) == "send_receipt(7, 'x', order_id=7)"
    assert repr(intent) == (
        "<Intent send_receipt(7, 'x', order_id=7) id='abc' key='k' options={'queue': 'mail'}>")
    assert repr(Intent(send_receipt, id="abc")) == "<Intent send_receipt() id='abc'>"


def test_intents_are_immutable_and_not_hashable():
    intent = Intent(send_receipt)
    with pytest.raises(AttributeError):
        intent.task = print  # type: ignore[misc]
    with pytest.raises(AttributeError):
        intent.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="unhashable"):
        hash(intent)
    with pytest.raises(TypeError):
        {intent}


def test_unpacking_an_intent_is_a_type_error_pointing_at_its_fields():
    with pytest.raises(TypeError, match="use its fields"):
        _task, _args = Intent(send_receipt)  # type: ignore[misc]


def test_ids_are_unique_strings_with_a_per_process_prefix():
    ids = [Intent(send_receipt).id for _ in range(10_000)]
    assert len(set(ids)) == 10_000
    prefixes = {i.rsplit("-", 1)[0] for i in ids}
    assert len(prefixes) == 1


def test_the_id_is_stable_for_the_intents_life():
    intent = Intent(send_receipt)
    assert intent.id == intent.id
    assert intent.replace(args=(2,)).id == intent.id
    assert pickle.loads(pickle.dumps(intent)).id == intent.id


def test_two_processes_get_different_id_prefixes():
    code = "import airlock; print(airlock.Intent(print).id)"
    ids = {subprocess.check_output([sys.executable, "-c", code], text=True).strip()
           for _ in range(2)}
    assert len({i.rsplit("-", 1)[0] for i in ids}) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_new_id_prefix():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.write(write, Intent(send_receipt).id.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child_id = os.read(read, 100).decode()
    os.close(read)
    assert child_id.rsplit("-", 1)[0] != Intent(send_receipt).id.rsplit("-", 1)[0]


def test_replace_returns_a_modified_copy_that_keeps_the_id():
    intent = Intent(send_receipt, args=(1,), dispatch_options={"countdown": 5}, key="k")
    changed = intent.replace(dispatch_options={"eta": 105}, args=(2,))
    assert changed is not intent and changed.id == intent.id
    assert changed.args == (2,) and changed.dispatch_options == {"eta": 105}
    assert changed.key == "k" and changed.task is send_receipt
    assert intent.args == (1,) and intent.dispatch_options == {"countdown": 5}
    assert intent.replace(id="new").id == "new"
    assert intent.replace() == intent  # same fields, same id
    assert intent.replace(args=(1,)) == intent


def test_replace_with_an_unknown_field_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match=r"unknown field.*countdown"):
        Intent(send_receipt).replace(countdown=5)


def test_without_options_strips_only_the_named_options():
    intent = Intent(send_receipt, dispatch_options={"executor": "mail", "queue": "m"})
    stripped = intent.without_options("executor", "retry")
    assert stripped.dispatch_options == {"queue": "m"} and stripped.id == intent.id
    assert intent.without_options("nothing") is intent


def test_pickle_round_trip_keeps_every_field():
    intent = Intent(send_receipt, args=(1,), kwargs={"a": [1]}, name="n", origin="o",
                    dispatch_options={"queue": "q"}, key="k")
    copy = pickle.loads(pickle.dumps(intent))
    assert type(copy) is Intent and copy == intent
    assert (copy.task, copy.args, copy.kwargs, copy.name, copy.origin, copy.key, copy.id) == (
        send_receipt, (1,), {"a": [1]}, "n", "o", "k", intent.id)
    assert copy.dispatch_options == {"queue": "q"}


def test_an_enqueued_intent_pickles():
    with airlock.scope(executor=lambda intent: None):
        intent = airlock.enqueue(send_receipt, 3, order_id=7)
    copy = pickle.loads(pickle.dumps(intent))
    assert str(copy) == "send_receipt(3, order_id=7)" and copy.id == intent.id


def test_equality_is_by_value_including_the_id():
    intent = Intent(send_receipt, args=(1,), id="same")
    assert intent == Intent(send_receipt, args=(1,), id="same")
    assert intent != Intent(send_receipt, args=(2,), id="same")
    assert Intent(send_receipt) != Intent(send_receipt)  # different ids
    assert intent != ("not", "an", "intent")


def test_passes_local_policies():
    assert Intent(send_email).passes_local_policies()
    blocked = Intent(send_email, local_policies=(airlock.AllowAll(), airlock.DropAll()))
    assert not blocked.passes_local_policies()
