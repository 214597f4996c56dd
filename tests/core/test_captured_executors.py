"""An intent captured from a scope given ``executor=`` keeps that executor (SPEC 2.5).

The outer scope decides whether and when (its policy, its flush or discard), the inner one
how. A scope on the default executor defers to the scope that captures its intents.
"""

from __future__ import annotations

import logging

import pytest

import airlock
from airlock.executors import logging_executor

from .conftest import Recorder, send_email


def test_an_intent_captured_from_a_scope_with_its_own_executor_goes_to_that_executor():
    outer_executor, inner_executor = Recorder(), Recorder()
    with airlock.scope(executor=outer_executor) as outer:
        with airlock.scope(executor=inner_executor):
            airlock.enqueue(send_email, "inner")
        assert inner_executor.intents == []  # captured: the outer scope decides when
        airlock.enqueue(send_email, "outer")
    assert inner_executor.calls == ["send_email('inner')"]
    assert outer_executor.calls == ["send_email('outer')"]
    assert [str(i) for i in outer.dispatched] == ["send_email('inner')", "send_email('outer')"]


def test_the_outer_scope_still_decides_whether_a_captured_intent_goes():
    inner_executor = Recorder()
    with pytest.raises(ValueError), airlock.scope(executor=Recorder()):
        with airlock.scope(executor=inner_executor):
            airlock.enqueue(send_email, 1)
        raise ValueError("the outer unit of work failed")
    with airlock.scope(airlock.DropAll(), executor=Recorder()):
        with airlock.scope(executor=inner_executor):
            airlock.enqueue(send_email, 2)
    assert inner_executor.intents == []


def test_a_logging_executor_dry_run_stays_a_dry_run_inside_an_outer_scope(caplog):
    real = Recorder()
    with caplog.at_level(logging.INFO, logger="airlock.dryrun"):
        with airlock.scope(executor=real):
            with airlock.scope(executor=logging_executor()):
                airlock.enqueue(send_email, 7)
    assert real.intents == []
    assert "airlock dry run: would run send_email(7)" in caplog.text


def test_a_scope_on_the_default_executor_defers_to_the_capturing_scopes():
    outer_executor = Recorder()
    with airlock.scope(executor=outer_executor):
        with airlock.scope():
            airlock.enqueue(send_email, 1)
    assert outer_executor.calls == ["send_email(1)"]


def test_the_nearest_explicit_executor_wins_through_several_levels():
    outer_executor, middle_executor, inner_executor = Recorder(), Recorder(), Recorder()
    with airlock.scope(executor=outer_executor):
        with airlock.scope(executor=middle_executor):
            with airlock.scope():  # defers to the middle one
                airlock.enqueue(send_email, "deferred")
            with airlock.scope(executor=inner_executor):
                airlock.enqueue(send_email, "pinned")
        assert middle_executor.intents == inner_executor.intents == []
    assert middle_executor.calls == ["send_email('deferred')"]
    assert inner_executor.calls == ["send_email('pinned')"]
    assert outer_executor.intents == []


def test_a_captured_intent_naming_an_executor_goes_to_that_named_one():
    named, inner_executor = Recorder(), Recorder()
    airlock.register_executor("named", named)
    with airlock.scope(executor=Recorder()):
        with airlock.scope(executor=inner_executor):
            airlock.enqueue(send_email, 1, _dispatch_options={"executor": "named"})
    assert named.calls == ["send_email(1)"] and inner_executor.intents == []


def test_a_pinned_executors_after_flush_is_called_once_when_the_outer_scope_flushes():
    inner_executor = Recorder()
    with airlock.scope(executor=Recorder()):
        for n in (1, 2):
            with airlock.scope(executor=inner_executor):
                airlock.enqueue(send_email, n)
        assert inner_executor.after_flush_calls == 0
    assert inner_executor.calls == ["send_email(1)", "send_email(2)"]
    assert inner_executor.after_flush_calls == 1
