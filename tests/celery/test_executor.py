"""celery_executor: task ids, options, canvas, serializer checks at enqueue, sync fallback."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.services import require_module

require_module("celery", "celery")

from celery import chain, chord, group  # noqa: E402

import airlock  # noqa: E402
from airlock.integrations.executors.celery import celery_executor  # noqa: E402
from tests.celery.app import add, pickled, ran  # noqa: E402


def test_task_is_published_with_the_intent_id_as_task_id(published):
    with airlock.scope(executor=celery_executor):
        intent = airlock.enqueue(add, 1, y=2)
        assert published == []
    [(name, headers, body)] = published
    assert name == "tests.add"
    assert headers["id"] == intent.id
    assert list(body[0]) == [1] and body[1] == {"y": 2}


def test_key_becomes_the_task_id(published):
    with airlock.scope(executor=celery_executor):
        airlock.enqueue(add, 1, _key="order-7-mail")
    assert published[0][1]["id"] == "order-7-mail"


def test_explicit_task_id_option_wins(published):
    with airlock.scope(executor=celery_executor):
        airlock.enqueue(add, 1, _dispatch_options={"task_id": "mine"})
    assert published[0][1]["id"] == "mine"


def test_countdown_becomes_an_absolute_eta_at_enqueue(published):
    with airlock.scope(executor=celery_executor):
        before = datetime.now(timezone.utc)
        intent = airlock.enqueue(add, 1, _dispatch_options={"countdown": 60, "queue": "mail"})
        eta = intent.dispatch_options["eta"]
        assert "countdown" not in intent.dispatch_options
        assert before + timedelta(seconds=60) <= eta <= datetime.now(timezone.utc) + timedelta(
            seconds=60
        )
    [(_, headers, _)] = published
    assert datetime.fromisoformat(headers["eta"]) == eta


def test_numeric_expires_becomes_absolute():
    with airlock.scope(executor=celery_executor):
        intent = airlock.enqueue(add, 1, _dispatch_options={"expires": 30})
        assert isinstance(intent.dispatch_options["expires"], datetime)


def test_countdown_and_eta_together_is_an_error():
    with pytest.raises(ValueError, match=r"countdown.*eta"):
        with airlock.scope(executor=celery_executor):
            airlock.enqueue(
                add, 1, _dispatch_options={"countdown": 1, "eta": datetime.now(timezone.utc)}
            )


def test_queue_option_reaches_the_message(published):
    received = []
    from celery import signals

    def on_publish(sender=None, routing_key=None, exchange=None, **kw):
        received.append(routing_key)

    signals.after_task_publish.connect(on_publish, weak=False)
    try:
        with airlock.scope(executor=celery_executor):
            airlock.enqueue(add, 1, _dispatch_options={"queue": "airlock_celery_mail"})
    finally:
        signals.after_task_publish.disconnect(on_publish)
    assert received == ["airlock_celery_mail"]


class Model:
    def __repr__(self):
        return "<Order: 7>"


def test_argument_the_json_serializer_rejects_fails_at_enqueue_naming_it(published):
    with airlock.scope(executor=celery_executor):
        message = r"tests\.add: argument 'y' \(Model <Order: 7>\).*'json'"
        with pytest.raises(TypeError, match=message):
            airlock.enqueue(add, 1, y=Model())
        with pytest.raises(TypeError, match=r"argument 0 \(Model"):
            airlock.enqueue(add, Model())
    assert published == []


def test_the_task_serializer_is_the_one_checked(published):
    with airlock.scope(executor=celery_executor):
        airlock.enqueue(pickled, Model())  # pickle can carry it
        with pytest.raises(TypeError, match="'json'"):
            airlock.enqueue(pickled, Model(), _dispatch_options={"serializer": "json"})
    assert [p[0] for p in published] == ["tests.pickled"]


def test_signature_args_are_checked_too():
    with airlock.scope(executor=celery_executor):
        with pytest.raises(TypeError, match=r"tests\.add: argument 0"):
            airlock.enqueue(chain(add.s(1), add.s(Model())))


def test_signature_and_canvas_are_sent_through_their_apply_async(published):
    with airlock.scope(executor=celery_executor):
        sig = airlock.enqueue(add.s(1, 2))
        airlock.enqueue(add.s(5), 6)  # partial: Celery puts the new args first, add(6, 5)
        airlock.enqueue(chain(add.s(1, 1), add.s(3)))
        airlock.enqueue(group(add.s(1, 1), add.s(2, 2)))
        airlock.enqueue(chord([add.s(1, 1), add.s(2, 2)], add.s()))
        assert published == []
    bodies = [(name, list(body[0])) for name, _, body in published]
    assert published[0][1]["id"] == sig.id
    assert bodies[:2] == [("tests.add", [1, 2]), ("tests.add", [6, 5])]
    assert ("tests.add", [1, 1]) in bodies[2:] and ("tests.add", [2, 2]) in bodies[2:]
    assert len(published) == 2 + 1 + 2 + 2  # chain sends its first task; chord its header


def test_plain_function_runs_synchronously_in_its_own_scope(published):
    seen = []

    def plain(x):
        seen.append((x, airlock.get_current_scope() is not None))

    with airlock.scope(executor=celery_executor):
        airlock.enqueue(plain, 3)
        assert seen == []
    assert seen == [(3, True)]
    assert published == []


def test_configured_by_dotted_path(published):
    airlock.configure(executor="airlock.integrations.executors.celery.celery_executor")
    with airlock.scope():
        airlock.enqueue(add, 4)
    assert [p[0] for p in published] == ["tests.add"]
    assert ran == []  # published, not run here


@pytest.mark.parametrize(
    "module", ["airlock.integrations.executors.celery", "airlock.integrations.celery"]
)
def test_missing_celery_names_the_extra(module, monkeypatch):
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "celery.app.task", None)  # as if the extra were missing
    monkeypatch.delitem(sys.modules, module)
    with pytest.raises(ImportError, match=r'pip install "django-airlock\[celery\]"'):
        importlib.import_module(module)


def test_a_django_model_instance_fails_at_enqueue_naming_the_argument(published):
    from django.contrib.auth.models import User

    with airlock.scope(executor=celery_executor):
        with pytest.raises(TypeError, match=r"argument 'user' \(User <User: ann>\).*primary key"):
            airlock.enqueue(add, 1, user=User(username="ann"))
    assert published == []


def test_celery_options_reach_the_message_and_a_typo_fails_at_enqueue(published):
    from airlock.exceptions import UnknownOptionError

    options = {
        "queue": "airlock_celery_opts", "priority": 3, "headers": {"tenant": 7},
        "shadow": "add-shadow", "time_limit": 10, "soft_time_limit": 5, "expires": 60,
        "retry": False, "serializer": "json", "compression": "zlib", "task_id": "t-opts",
    }  # fmt: skip
    with airlock.scope(executor=celery_executor) as scope:
        airlock.enqueue(add, 1, _dispatch_options=options)
        with pytest.raises(UnknownOptionError, match=r"'countdwon' \(did you mean 'countdown'"):
            airlock.enqueue(add, 2, _dispatch_options={"countdwon": 5})
    assert len(scope.intents) == 1
    ((name, headers, _),) = published
    assert name == "tests.add" and headers["id"] == "t-opts" and headers["shadow"] == "add-shadow"
    assert headers["tenant"] == 7 and headers["timelimit"] == [10, 5] and headers["expires"]


def test_an_option_a_task_class_adds_to_apply_async_is_accepted(published):
    from celery import Task

    from airlock.exceptions import UnknownOptionError
    from tests.celery.app import app

    class Once(Task):  # e.g. a de-duplicating base class with its own apply_async option
        def apply_async(self, args=None, kwargs=None, once=None, **options):
            ran.append(("once", (once,)))
            return super().apply_async(args, kwargs, **options)

    @app.task(base=Once, name="tests.once_add", shared=False)
    def once_add(x):
        return x

    with airlock.scope(executor=celery_executor):
        airlock.enqueue(once_add, 1, _dispatch_options={"once": {"timeout": 60}})
        with pytest.raises(UnknownOptionError, match="'twice'"):
            airlock.enqueue(once_add, 1, _dispatch_options={"twice": True})
    assert ran == [("once", ({"timeout": 60},))] and [p[0] for p in published] == ["tests.once_add"]
