"""Named executors through the core registry: ``configure(executors=...)`` + an option."""

from __future__ import annotations

import pytest

import airlock
from airlock.executors import with_retry
from tests.executors.helpers import Recorder, noop


def test_intent_goes_to_the_named_executor_without_the_executor_option() -> None:
    default, mail = Recorder("default"), Recorder("mail")
    airlock.configure(executor=default, executors={"mail": with_retry(mail, sleep=lambda s: None)})
    with airlock.scope():
        airlock.enqueue(noop, _name="receipt", _dispatch_options={"executor": "mail", "queue": "q"})
        airlock.enqueue(noop, _name="other")
    assert [i.name for i in mail.received] == ["receipt"]
    assert "executor" not in mail.received[0].dispatch_options
    assert mail.received[0].dispatch_options["queue"] == "q"
    assert [i.name for i in default.received] == ["other"]
    # prepare ran at enqueue through the wrapper; after_flush reached both executors once.
    assert mail.events[0].startswith("prepare receipt") and mail.events[1:] == ["after_flush"]
    assert default.events.count("after_flush") == 1


def test_named_executor_given_as_dotted_path() -> None:
    airlock.configure(executors={"sync": "airlock.integrations.executors.sync.sync_executor"})
    ran: list[int] = []
    with airlock.scope(executor=Recorder()):
        airlock.enqueue(ran.append, 1, _dispatch_options={"executor": "sync"})
    assert ran == [1]


def test_unknown_name_is_a_usage_error_at_enqueue() -> None:
    airlock.configure(executors={"mail": Recorder()})
    with airlock.scope(executor=Recorder()) as s:
        with pytest.raises(airlock.UsageError, match=r"unknown executor name 'sms'.*known: mail"):
            airlock.enqueue(noop, _dispatch_options={"executor": "sms"})
        assert s.intents == []


def test_register_executor_extends_the_registry_and_configure_replaces_it() -> None:
    mail, sms, push = Recorder("mail"), Recorder("sms"), Recorder("push")
    airlock.configure(executors={"mail": mail})
    airlock.register_executor("sms", sms)
    with airlock.scope(executor=Recorder()):
        airlock.enqueue(noop, _name="m", _dispatch_options={"executor": "mail"})
        airlock.enqueue(noop, _name="s", _dispatch_options={"executor": "sms"})
    assert [i.name for i in mail.received] == ["m"] and [i.name for i in sms.received] == ["s"]
    airlock.configure(executors={"push": push})  # replaces the whole registry
    assert set(airlock.get_configuration()["executors"]) == {"push"}
    with airlock.scope(executor=Recorder()):
        with pytest.raises(airlock.UsageError, match=r"unknown executor name 'mail'.*known: push"):
            airlock.enqueue(noop, _dispatch_options={"executor": "mail"})
