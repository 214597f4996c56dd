"""@airlock.scoped: a fresh scope per call, for sync and async functions (SPEC §2)."""

from __future__ import annotations

import pytest

import airlock

from .conftest import Recorder, send_email


class Boom(Exception):
    pass


def test_scoped_runs_each_call_in_a_fresh_scope_that_flushes_on_return(recorder):
    scopes = []

    @airlock.scoped(executor=recorder)
    def ship(order_id):
        scopes.append(airlock.get_current_scope())
        airlock.enqueue(send_email, order_id)
        assert recorder.intents == [] or len(recorder.intents) == order_id - 1
        return order_id * 10

    assert ship(1) == 10
    assert ship(2) == 20
    assert recorder.calls == ["send_email(1)", "send_email(2)"]
    assert scopes[0] is not scopes[1] and all(s.is_flushed for s in scopes)
    assert airlock.get_current_scope() is None


def test_bare_scoped_decorator_works(recorder):
    airlock.configure(executor=recorder)

    @airlock.scoped
    def job():
        airlock.enqueue(send_email)

    job()
    assert recorder.calls == ["send_email()"]


def test_scoped_keeps_the_function_name_and_docstring():
    @airlock.scoped()
    def job():
        """Does the job."""

    assert job.__name__ == "job" and job.__doc__ == "Does the job."


def test_scoped_takes_a_policy(recorder):
    @airlock.scoped(airlock.DropAll(), executor=recorder)
    def job():
        airlock.enqueue(send_email)

    job()
    assert recorder.intents == []


def test_scoped_discards_on_error_and_the_error_propagates_unchanged(recorder):
    error = Boom()

    @airlock.scoped(executor=recorder)
    def job():
        airlock.enqueue(send_email)
        raise error

    with pytest.raises(Boom) as caught:
        job()
    assert caught.value is error
    assert recorder.intents == []


def test_scoped_uses_the_configured_scope_class():
    made = []

    class Counting(airlock.Scope):
        def enter(self):
            made.append(self)
            return super().enter()

    airlock.configure(scope_cls=Counting, executor=Recorder())

    @airlock.scoped()
    def job():
        pass

    job()
    job()
    assert len(made) == 2


async def test_scoped_on_an_async_function(recorder):
    @airlock.scoped(executor=recorder)
    async def job(n):
        airlock.enqueue(send_email, n)
        assert recorder.intents == []
        return n

    assert await job(3) == 3
    assert recorder.calls == ["send_email(3)"]


async def test_scoped_async_discards_on_error(recorder):
    @airlock.scoped(executor=recorder)
    async def job():
        airlock.enqueue(send_email)
        raise Boom

    with pytest.raises(Boom):
        await job()
    assert recorder.intents == []


async def test_bare_scoped_on_an_async_function(recorder):
    airlock.configure(executor=recorder)

    @airlock.scoped
    async def job():
        airlock.enqueue(send_email)

    await job()
    assert recorder.calls == ["send_email()"]


def test_scoped_inside_a_scope_is_captured_by_the_outer_scope(recorder):
    @airlock.scoped(executor=recorder)
    def library_call():
        airlock.enqueue(send_email)

    with airlock.scope(executor=recorder) as outer:
        library_call()
        assert recorder.intents == []  # library code cannot release effects early
        assert [str(i) for i in outer.captured_intents] == ["send_email()"]
    assert recorder.calls == ["send_email()"]
