"""The migration helpers: .delay()/.apply_async() inside a scope become intents."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone

import pytest

from tests.services import require_module

require_module("celery", "celery")

from celery import Celery  # noqa: E402
from celery.exceptions import Retry  # noqa: E402

import airlock  # noqa: E402
from airlock.integrations import celery as airlock_celery  # noqa: E402
from airlock.integrations.celery import AirlockTask, DeferredCall  # noqa: E402
from airlock.integrations.executors.celery import celery_executor  # noqa: E402
from tests.celery.app import add, app, ran  # noqa: E402


@pytest.fixture
def installed():
    airlock_celery.install()
    yield
    airlock_celery.uninstall()


@app.task(name="tests.legacy", base=AirlockTask)
def legacy(x: int) -> None:
    ran.append(("legacy", (x,)))


@app.task(name="tests.legacy_parent", base=AirlockTask)
def legacy_parent(fail: bool) -> None:
    legacy.delay(10)
    if fail:
        raise RuntimeError("boom")


def names(published):
    return [(name, list(body[0])) for name, _, body in published]


def test_delay_inside_a_scope_is_deferred_with_a_deprecation_warning(installed, published):
    with airlock.scope() as s:
        with pytest.warns(DeprecationWarning, match=r"tests.add.delay\(\).*airlock.enqueue") as w:
            result = add.delay(1, y=2)
        assert w[0].filename == __file__  # points at the caller
        assert published == []
        [intent] = s.intents
        assert isinstance(intent.task, DeferredCall) and intent.name == "add"
        assert (intent.args, intent.kwargs) == ((1,), {"y": 2})
    # The default executor here is sync_executor: still published, never run inline.
    assert names(published) == [("tests.add", [1])]
    assert published[0][1]["id"] == result.id
    assert ran == []


def test_apply_async_options_are_kept_and_countdown_fixed_at_call_time(installed, published):
    with airlock.scope(executor=celery_executor):
        with pytest.warns(DeprecationWarning):
            before = datetime.now(timezone.utc)
            add.apply_async((1,), countdown=30, queue="airlock_celery_x", task_id="given")
    [(_, headers, _)] = published
    assert headers["id"] == "given"
    eta = datetime.fromisoformat(headers["eta"])
    assert before + timedelta(seconds=30) <= eta < before + timedelta(seconds=31)


def test_outside_a_scope_delay_passes_through(installed, published):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        add.delay(5)
    assert names(published) == [("tests.add", [5])]


def test_discarded_scope_sends_nothing(installed, published):
    with pytest.raises(KeyError), pytest.warns(DeprecationWarning):
        with airlock.scope():
            add.delay(1)
            raise KeyError
    assert published == []


def test_serializer_rejection_surfaces_at_the_delay_call(installed):
    with airlock.scope(), pytest.warns(DeprecationWarning):
        with pytest.raises(TypeError, match="argument 0"):
            add.delay(object())


class Independent(airlock.Scope):
    def before_descendant_flushes(self, exiting_scope, intents):
        return intents  # children flush on their own while this scope is still active


def test_flush_inside_an_active_scope_is_not_intercepted_again(installed, published):
    with airlock.scope(_cls=Independent) as outer:
        with pytest.warns(DeprecationWarning):
            with airlock.scope():
                add.delay(7)
        assert names(published) == [("tests.add", [7])]
        assert outer.intents == []


def test_uninstall_restores_celery(published):
    airlock_celery.install()
    airlock_celery.install()  # idempotent
    airlock_celery.uninstall()
    assert not airlock_celery.is_installed()
    with airlock.scope():
        add.delay(1)
        assert len(published) == 1


def test_base_class_defers_without_install(published):
    with airlock.scope(), pytest.warns(DeprecationWarning):
        legacy.delay(3)
        legacy.apply_async((4,))
        assert published == []
    assert names(published) == [("tests.legacy", [3]), ("tests.legacy", [4])]
    legacy.delay(5)  # outside a scope
    assert len(published) == 3 and ran == []


def test_base_class_scopes_the_task_body(published):
    with pytest.warns(DeprecationWarning):
        assert legacy_parent.apply(args=(True,)).failed()
    assert published == []
    with pytest.warns(DeprecationWarning):
        assert legacy_parent.apply(args=(False,)).successful()
    assert names(published) == [("tests.legacy", [10])]


def test_other_apps_and_eager_mode_still_defer(installed):
    eager = Celery("eager", set_as_current=False)
    eager.conf.task_always_eager = True
    seen = []

    @eager.task(name="tests.eager")
    def job(x):
        seen.append(x)

    with airlock.scope(), pytest.warns(DeprecationWarning):
        job.delay(1)
        assert seen == []
    assert seen == [1]  # eager mode runs it at flush, as the app asked


@app.task(name="tests.flaky", bind=True, base=AirlockTask, max_retries=1)
def flaky(self) -> None:
    legacy.delay(1)  # an effect of this attempt: discarded with it
    self.retry(countdown=0)


def test_a_retry_is_published_at_once_not_held_and_lost(published):
    # A worker-like request (not eager), so retry() publishes the next attempt to the broker.
    flaky.push_request(id="attempt-1", retries=0, called_directly=False, is_eager=False)
    try:
        with pytest.raises(Retry), pytest.warns(DeprecationWarning):
            flaky()  # ScopedTask.__call__: the body runs in a scope that the Retry discards
    finally:
        flaky.pop_request()
    assert [name for name, _, _ in published] == ["tests.flaky"]
    assert published[0][1]["retries"] == 1
