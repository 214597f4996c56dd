from __future__ import annotations

import pytest

import airlock
from airlock.executors import route
from tests.executors.helpers import Recorder, intent, noop, run_threads


def test_routes_by_intent_name_with_default() -> None:
    mail, other = Recorder("mail"), Recorder("other")
    ex = route({"send_receipt": mail}, default=other)
    ex(intent("send_receipt"))
    ex(intent("resize"))
    assert [i.name for i in mail.received] == ["send_receipt"]
    assert [i.name for i in other.received] == ["resize"]


def test_routes_by_option_and_strips_it() -> None:
    heavy, light = Recorder("heavy"), Recorder("light")
    ex = route({True: heavy}, by="heavy", default=light)
    ex(intent("a", heavy=True, queue="big"))
    ex(intent("b"))
    assert [dict(i.dispatch_options) for i in heavy.received] == [{"queue": "big"}]
    assert [i.name for i in light.received] == ["b"]


def test_callable_key_with_declared_options_to_strip() -> None:
    now, later = Recorder("now"), Recorder("later")
    ex = route(
        {"now": now},
        by=lambda i: "now" if i.dispatch_options.get("priority", 5) >= 8 else "later",
        default=later,
        strip=("priority",),
    )
    ex(intent("urgent", priority=9))
    ex(intent("batch", priority=3))
    assert [i.name for i in now.received] == ["urgent"]
    assert [(i.name, dict(i.dispatch_options)) for i in later.received] == [("batch", {})]


def test_unknown_route_without_default_fails_at_enqueue_not_flush() -> None:
    mail = Recorder("mail")
    ex = route({"mail": mail}, by="lane")
    with airlock.scope(executor=ex) as s:
        airlock.enqueue(noop, _dispatch_options={"lane": "mail"})
        with pytest.raises(airlock.UsageError, match=r"'lane'='sms'.*known: 'mail'.*default"):
            airlock.enqueue(noop, _dispatch_options={"lane": "sms"})
        assert len(s.intents) == 1
    assert len(mail.received) == 1 and mail.received[0].dispatch_options.get("lane") is None


def test_prepare_goes_to_the_chosen_executor_without_routing_options() -> None:
    heavy, light = Recorder("heavy"), Recorder("light")
    ex = route({True: heavy}, by="heavy", default=light)
    prepared = ex.prepare(intent("a", heavy=True, queue="q"))
    assert heavy.events == ["prepare a ['queue']"] and light.events == []
    # The routing option stays on the prepared intent so the flush can route it again.
    assert dict(prepared.dispatch_options) == {"queue": "q", "heavy_ok": 1, "heavy": True}
    ex(prepared)
    assert dict(heavy.received[0].dispatch_options) == {"queue": "q", "heavy_ok": 1}


def test_after_flush_and_close_reach_every_executor_once() -> None:
    a, b = Recorder("a"), Recorder("b")
    ex = route({"x": a, "y": a}, default=b)
    ex.after_flush()
    ex.close()
    assert a.events == ["after_flush", "close"] and b.events == ["after_flush", "close"]


def test_under_eight_threads_every_intent_reaches_its_route() -> None:
    lanes = {n: Recorder(f"lane{n}") for n in range(8)}
    ex = route(lanes, by="lane")
    errors = run_threads(8, lambda n: [ex(intent(f"t{n}", lane=n)) for _ in range(25)])
    assert errors == []
    assert all(
        len(r.received) == 25 and {i.name for i in r.received} == {f"t{n}"}
        for n, r in lanes.items()
    )


def test_bad_tables_are_rejected_at_construction() -> None:
    with pytest.raises(TypeError, match="'mail' maps to 'celery'"):
        route({"mail": "celery"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="mapping"):
        route([Recorder()])  # type: ignore[arg-type]
