"""Compositions of ``batching`` and the wrappers, found by a fuzzer: each intent gets one true
fate (``dispatched`` only if a broker took it), nothing in doubt is sent again, no failure or
interrupt hides another, and ``batching`` around an executor that buffers past its call is
refused when it is built (SPEC 2.6).

The brokers here are in-process fakes, on purpose: the faults tested (a batch refused for some
intents only, an answer lost so an intent is in doubt, an interrupt at a chosen send or hook)
cannot be produced on demand by a real broker. The wrappers and the engine are the real ones;
the queue executors' own batch paths run against real brokers and workers in ``integrations/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import airlock
from airlock import _events
from airlock.exceptions import BatchDispatchError
from airlock.executors import (
    batching,
    broadcast,
    instrumented,
    route,
    with_circuit_breaker,
    with_fallback,
    with_rate_limit,
    with_retry,
)
from airlock.integrations.executors._batch import BatchingExecutor
from tests.executors.helpers import Recorder, noop
from tests.executors.test_wrapper_batches import Bulk, no_sleep


class Broker:
    """A fake broker that records what it *accepted*. ``plan``: intent name -> its answer per
    attempt ("ok", "refuse", "doubt": no answer, it may have gone), "ok" past the plan;
    ``down``: call numbers that fail whole; ``kbi``: the call number raising KeyboardInterrupt.
    ``bulk=False``: no ``send_batch``, one intent per call."""

    def __init__(
        self, name: str, plan: dict[str, list[str]] | None = None, down: tuple[int, ...] = (),
        kbi: int | None = None, bulk: bool = True,
    ) -> None:
        self.__name__ = name
        self.plan, self.down, self.kbi = plan or {}, down, kbi
        self.calls = 0
        self.tries: dict[str, int] = {}
        self.accepted: list[str] = []
        self.log: list[str] = []  # what each call was handed
        if bulk:
            self.send_batch = self._send_batch

    def _start(self, what: str) -> None:
        call, self.calls = self.calls, self.calls + 1
        self.log.append(what)
        if call == self.kbi:
            raise KeyboardInterrupt(self.__name__)
        if call in self.down:
            raise ConnectionError(f"{self.__name__} down")

    def _answer(self, intent: airlock.Intent) -> str:
        n = self.tries[intent.name] = self.tries.get(intent.name, 0) + 1
        plan = self.plan.get(intent.name, [])
        answer = plan[n - 1] if n <= len(plan) else "ok"
        if answer == "ok":
            self.accepted.append(intent.name)
        return answer

    def __call__(self, intent: airlock.Intent) -> None:
        self._start(intent.name)
        answer = self._answer(intent)
        if answer == "refuse":
            raise ConnectionError(f"{self.__name__} refused {intent.name}")
        if answer == "doubt":
            raise BatchDispatchError("no answer", in_doubt=[intent],
                                     errors=[(intent, ConnectionError("no answer"))])

    def _send_batch(self, intents: list[airlock.Intent]) -> None:
        self._start(",".join(i.name for i in intents))
        answers = [(i, self._answer(i)) for i in intents]
        if any(a != "ok" for _, a in answers):
            error = ConnectionError("partial")
            raise BatchDispatchError(
                "partial", sent=[i for i, a in answers if a == "ok"],
                unsent=[i for i, a in answers if a == "refuse"],
                in_doubt=[i for i, a in answers if a == "doubt"],
                errors=[(i, error) for i, a in answers if a != "ok"])


def flush(
    executor: Any, names: list[str], fates: dict[str, list[str]], by_name: str = ""
) -> None:
    """Enqueue ``names`` on ``executor`` in one scope (the one called ``p`` goes to the named
    executor ``by_name`` if given); each intent's fate events go in ``fates`` (a list each, so
    a second fate shows). What the flush raises propagates."""

    def listen(event: str, intent: airlock.Intent, scope: object, detail: object) -> None:
        if event in ("dispatched", "failed"):
            fates.setdefault(intent.name, []).append(event)

    unsubscribe = _events.subscribe(listen)
    try:
        with airlock.scope(executor=executor):
            for name in names:
                options = {"executor": by_name} if by_name and name == "p" else {}
                airlock.enqueue(noop, _name=name, _dispatch_options=options)
    finally:
        unsubscribe()


class Publisher(BatchingExecutor):
    """A batched executor (as the Celery, dramatiq and huey ones): it records in its call and
    publishes in ``after_flush``."""

    def batch_groups(self, intents: list[airlock.Intent]) -> list[Any]:
        return ["all"] * len(intents)

    def publish_batch(self, group: Any, intents: list[airlock.Intent]) -> None:
        pass

    def send_one(self, intent: airlock.Intent) -> None:
        pass


def _bulk() -> Bulk:
    return Bulk()


def _to_itself() -> Any:
    bulk = _bulk()
    return with_fallback(batching(bulk, size=2), bulk)


def _shared_by_two_routes() -> Any:
    shared = batching(_bulk(), size=2)
    return route({"a": shared, "b": shared}, by=lambda i: "a")


BUFFERING_INSIDE: dict[str, Callable[[], Any]] = {
    # the inner batching only buffered t0, the fallback counted it sent; its later
    # refusal was dropped and t0 was reported dispatched, never sent.
    "fallback over a batching": lambda: with_fallback(batching(_bulk(), size=2), Recorder()),
    # t1 went and t0 was in doubt, but the error was re-wrapped as "t1 failed": t1 was
    # sent twice and t0 reported dispatched.
    "fallback over a batching of the same broker": _to_itself,
    # one batching on two paths: t0 (refused) dispatched, t1 (taken) failed.
    "route to a shared batching": _shared_by_two_routes,
    "a batching": lambda: batching(_bulk()),
    "a batched executor": lambda: Publisher(),
    "retry over a batching": lambda: with_retry(batching(_bulk()), sleep=no_sleep),
    "retry over a batched executor": lambda: with_retry(Publisher(), sleep=no_sleep),
    "a batching as the fallback": lambda: with_fallback(_bulk(), batching(_bulk())),
    "route default a batching": lambda: route({}, default=batching(_bulk())),
    "broadcast to a batching": lambda: broadcast(_bulk(), batching(_bulk())),
    "instrumented batching": lambda: instrumented(batching(_bulk())),
    "circuit breaker over a batching": lambda: with_circuit_breaker(batching(_bulk())),
    "rate limit over a batching": lambda: with_rate_limit(batching(_bulk()), per_second=1e6),
    "deep inside": lambda: with_retry(with_fallback(_bulk(), route({"x": instrumented(
        Publisher())}, default=_bulk())), sleep=no_sleep),
}


@pytest.mark.parametrize("make", BUFFERING_INSIDE.values(), ids=BUFFERING_INSIDE)
def test_batching_around_what_buffers_past_its_call_is_refused_when_built(make: Any) -> None:
    # Before, these were built and lost fates: the outer batching took a buffered intent for
    # one sent, and read the inner batch's errors against the wrong intents.
    inner = make()
    with pytest.raises(TypeError, match="batching"):
        batching(inner, size=1)


ALLOWED: dict[str, Callable[[Bulk, Recorder], Any]] = {
    "batching(with_retry(bulk))": lambda b, s: batching(with_retry(b, sleep=no_sleep), size=2),
    "batching(with_fallback(bulk, spare))": lambda b, s: batching(with_fallback(b, s), size=2),
    "batching(route(bulk))": lambda b, s: batching(route({"a": b}, by=lambda i: "a"), size=2),
    "with_retry(batching(bulk))": lambda b, s: with_retry(batching(b, size=2), sleep=no_sleep),
    "with_fallback(batching(bulk), spare)": lambda b, s: with_fallback(batching(b, size=2), s),
}


@pytest.mark.parametrize("make", ALLOWED.values(), ids=ALLOWED)
def test_batching_outermost_over_plain_wrappers_still_builds_and_sends_whole_batches(
    make: Any,
) -> None:
    bulk, spare = Bulk(), Recorder("spare")
    fates: dict[str, list[str]] = {}
    flush(make(bulk, spare), ["t0", "t1", "t2"], fates)
    assert bulk.batches == [["t0", "t1"], ["t2"]] and bulk.singles == []
    assert spare.received == []
    assert fates == {name: ["dispatched"] for name in ["t0", "t1", "t2"]}


def test_what_a_single_executor_leaves_in_doubt_never_reaches_the_fallback() -> None:
    # send_each re-wrapped the in-doubt answer as a plain failure, so with_fallback
    # sent t0 again to the spare and reported it dispatched.
    single, spare = Broker("single", {"t0": ["doubt"]}, bulk=False), Broker("spare")
    fates: dict[str, list[str]] = {}
    with pytest.raises(airlock.DispatchError):
        flush(batching(with_fallback(single, spare), size=1), ["t0"], fates)
    assert single.accepted == [] and spare.log == [] and spare.accepted == []
    assert fates == {"t0": ["failed"]}


def test_a_retry_that_resends_the_refused_still_fails_what_was_in_doubt() -> None:
    # the retry resent [t1], which went, and returned as if the whole batch had: t2
    # (no answer) was reported dispatched.
    bulk = Broker("b", {"t1": ["refuse"], "t2": ["doubt"]})
    fates: dict[str, list[str]] = {}
    with pytest.raises(airlock.DispatchError):
        flush(batching(with_retry(bulk, attempts=2, sleep=no_sleep), size=2), ["t1", "t2"], fates)
    assert bulk.log == ["t1,t2", "t1"] and bulk.accepted == ["t1"]  # t2 never resent
    assert fates == {"t1": ["dispatched"], "t2": ["failed"]}


@pytest.mark.parametrize(
    ("broker", "names", "raised"),
    [
        # both partial batches fail in after_flush; route kept only the first error,
        # and t1 (refused) was reported dispatched.
        (lambda: Broker("b", {"t1": ["refuse"]}, down=(0,), bulk=False), ["t0", "t1"],
         airlock.DispatchError),
        # the first fails, the second is interrupted; the interrupt was swallowed by
        # the first error and t2 (never sent) was reported dispatched.
        (lambda: Broker("b", {"t0": ["refuse"]}, kbi=1, bulk=False), ["t0", "t2"],
         KeyboardInterrupt),
    ],
    ids=["both-fail", "second-interrupted"],
)
def test_a_route_reports_what_each_of_its_batchings_failed(
    broker: Any, names: list[str], raised: type[BaseException]
) -> None:
    b = broker()
    paths = dict(zip(names, "ab"))
    executor = route({"a": batching(b, size=2), "b": batching(b, size=2)},
                     by=lambda i: paths[i.name])
    fates: dict[str, list[str]] = {}
    with pytest.raises(raised):
        flush(executor, names, fates)
    assert b.log == names and b.accepted == []
    assert fates == {name: ["failed"] for name in names}


def test_an_interrupt_in_a_fallbacks_after_flush_is_not_swallowed_by_an_earlier_error() -> None:
    # t2 is given up on (an error); sending t3 in after_flush is interrupted. The
    # interrupt was swallowed for the earlier error and t3 reported dispatched, never sent.
    # t0 and t1 went in [t0,t1,t2], which refused only t2: dispatched.
    b = Broker("b", {"t2": ["refuse", "refuse"], "t3": ["refuse"]}, kbi=2)
    executor = with_fallback(with_retry(batching(b, size=3), attempts=1, sleep=no_sleep),
                             batching(b, size=3))
    fates: dict[str, list[str]] = {}
    with pytest.raises(KeyboardInterrupt):
        flush(executor, ["t0", "t1", "t2", "t3"], fates)
    assert b.accepted == ["t0", "t1"] and b.log == ["t0,t1,t2", "t3", "t2,t3"]
    assert fates == {"t0": ["dispatched"], "t1": ["dispatched"], "t2": ["failed"],
                     "t3": ["failed"]}


@pytest.mark.parametrize(
    ("refused", "accepted", "spare_accepted"),
    [
        # the broker refuses both; t1 goes to the spare, but t0's refusal (another
        # path's intent) was dropped: t0 was reported dispatched, never sent.
        (["t0", "t1"], [], ["t1"]),
        # t0 refused, t1 taken: t1 must not be sent again to the spare.
        (["t0"], ["t1"], []),
    ],
    ids=["both-refused", "other-refused"],
)
def test_a_shared_batch_fails_the_other_paths_intent_and_sends_the_fallback_paths_once(
    refused: list[str], accepted: list[str], spare_accepted: list[str]
) -> None:
    b = Broker("b", {name: ["refuse"] for name in refused})
    spare = Broker("spare")
    shared = batching(b, size=2)
    executor = route({"a": shared, "b": with_fallback(shared, spare)},
                     by=lambda i: {"t0": "a", "t1": "b"}[i.name])
    fates: dict[str, list[str]] = {}
    with pytest.raises(airlock.DispatchError):
        flush(executor, ["t0", "t1"], fates)
    assert b.accepted == accepted and spare.accepted == spare_accepted
    assert (b.accepted + spare.accepted).count("t1") == 1
    assert fates == {"t0": ["failed"], "t1": ["dispatched"]}


@pytest.mark.parametrize(
    ("make", "broker"),
    [
        (lambda b: with_retry(batching(b, size=2), attempts=1, sleep=no_sleep),
         lambda: Broker("b", kbi=1)),  # [t0,t1] accepted, [t2] interrupted
        (lambda b: with_fallback(batching(b, size=2), b),
         lambda: Broker("b", kbi=2, bulk=False)),  # t0, t1 accepted, t2 interrupted
    ],
    ids=["with_retry", "with_fallback"],
)
def test_an_interrupt_in_a_wrappers_after_flush_keeps_what_went_before_it(
    make: Any, broker: Any
) -> None:
    # the inner batching's note of what went was trusted only from the executor the
    # engine called (the wrapper): t0 and t1, accepted, were reported failed.
    b = broker()
    fates: dict[str, list[str]] = {}
    with pytest.raises(KeyboardInterrupt):
        flush(make(b), ["t0", "t1", "t2"], fates)
    assert b.accepted == ["t0", "t1"]
    assert fates == {"t0": ["dispatched"], "t1": ["dispatched"], "t2": ["failed"]}


@pytest.mark.parametrize(
    "make",
    [
        lambda b, single: with_retry(b, attempts=2, sleep=no_sleep),  # the retry of [t1]
        lambda b, single: with_fallback(b, single),  # t1 handed to the fallback
    ],
    ids=["with_retry", "with_fallback"],
)
def test_an_interrupt_while_a_batch_is_retried_or_falls_back_keeps_what_went(make: Any) -> None:
    # [t0,t1,t2] goes but for t1; handing t1 on is interrupted. Before, the interrupt said
    # nothing of the batch, and t0 and t2, accepted, were reported failed with it.
    b = Broker("b", {"t1": ["refuse"]}, kbi=1)
    single = Broker("single", kbi=0, bulk=False)
    fates: dict[str, list[str]] = {}
    with pytest.raises(KeyboardInterrupt):
        flush(batching(make(b, single), size=3), ["t0", "t1", "t2", "t3"], fates)
    assert b.accepted == ["t0", "t2"] and single.accepted == []
    assert fates == {"t0": ["dispatched"], "t1": ["failed"], "t2": ["dispatched"],
                     "t3": ["failed"]}


class FailingPublisher(Publisher):
    """A batched executor whose whole publish fails before anything goes (a plain error)."""

    def batch_groups(self, intents: list[airlock.Intent]) -> list[Any]:
        raise ConnectionError("redis down")


class InterruptedHook(Recorder):
    """Takes each intent in its call; its after_flush is interrupted (Ctrl-C while it closes)."""

    def after_flush(self) -> None:
        raise KeyboardInterrupt("ctrl-c")


@pytest.mark.parametrize(
    "make",
    [
        # A level whose after_flush failed its whole batch, then an interrupt in the next one's:
        # the interrupt won, and its note vouched for the failed level's intents.
        lambda b: with_fallback(FailingPublisher(), InterruptedHook("spare")),
        # The first batch is refused whole and goes to a batched executor that then fails it
        # whole, after the last batch's send was interrupted.
        lambda b: with_fallback(batching(b, size=2), FailingPublisher()),
    ],
    ids=["fails-all-then-interrupt", "rerouted-then-fails-all"],
)
def test_an_interrupt_never_vouches_for_what_a_hook_failed_whole(make: Any) -> None:
    b = Broker("b", {"t0": ["refuse"], "t1": ["refuse"]}, kbi=1)
    fates: dict[str, list[str]] = {}
    with pytest.raises(KeyboardInterrupt):
        flush(make(b), ["t0", "t1", "t2"], fates)
    assert b.accepted == []
    assert fates == {name: ["failed"] for name in ["t0", "t1", "t2"]}


@pytest.mark.parametrize(
    "make",
    [
        # The batch refuses p, another path's intent; then a later hook is interrupted without a
        # note, and the interrupt won over the error naming p: p was reported dispatched.
        lambda shared: with_fallback(shared, InterruptedHook("spare")),
        lambda shared: route({}, default=with_fallback(shared, InterruptedHook("spare"))),
        # p's refusal came with f's, which went on to a spare whose call was interrupted.
        lambda shared: with_fallback(shared, Broker("spare", kbi=0, bulk=False)),
    ],
    ids=["fallback", "route", "interrupt-while-rerouting"],
)
def test_what_a_batch_said_of_another_paths_intent_outlives_an_interrupt(make: Any) -> None:
    b = Broker("b", {"p": ["refuse"], "f": ["refuse"]})
    shared = batching(b, size=10)
    airlock.register_executor("plain", shared)
    fates: dict[str, list[str]] = {}
    with pytest.raises(KeyboardInterrupt):
        flush(make(shared), ["f", "p"], fates, by_name="plain")
    assert "p" not in b.accepted
    assert fates["p"] == ["failed"] and len(fates["f"]) == 1


def test_an_interrupt_note_outlives_an_error_that_fails_everything() -> None:
    # route's hooks: the shared batch's send is interrupted (its note names x and p unsent),
    # then another path's hook fails everything. The note was deleted, and p (held under the
    # shared batching, by name) was reported dispatched, never sent.
    shared = batching(Broker("b", kbi=0), size=10)
    airlock.register_executor("plain", shared)
    failer = FailingPublisher()
    fates: dict[str, list[str]] = {}
    with pytest.raises(KeyboardInterrupt):
        flush(route({"x": shared, "y": failer}), ["x", "y", "p"], fates, by_name="plain")
    assert fates == {"x": ["failed"], "y": ["failed"], "p": ["failed"]}


def test_a_broadcast_to_a_batching_fails_what_the_batch_refused_not_the_caller() -> None:
    # b's call sends [a, b], which refuses a. broadcast pinned the error on b: b (accepted by
    # both) was reported failed and a (refused) dispatched.
    b = Broker("b", {"a": ["refuse"]})
    plain = Recorder("plain")
    fates: dict[str, list[str]] = {}
    with pytest.raises(airlock.DispatchError):
        flush(broadcast(batching(b, size=2), plain), ["a", "b"], fates)
    assert b.accepted == ["b"] and [i.name for i in plain.received] == ["a", "b"]
    assert fates == {"a": ["failed"], "b": ["dispatched"]}


class HookedBroker(Broker):
    """A ``Broker`` whose ``after_flush`` raises ``hook`` (each time, or ``times`` times)."""

    def __init__(self, name: str, plan: dict[str, list[str]] | None = None,
                 hook: BaseException | None = None, times: int = 99, bulk: bool = True) -> None:
        super().__init__(name, plan, bulk=bulk)
        self.hook, self.times = hook, times

    def after_flush(self) -> None:
        if self.hook is not None and self.times:
            self.times -= 1
            raise self.hook


def test_a_broadcast_member_still_holding_an_intent_decides_its_fate() -> None:
    # t1's call made A send [t0, t1] (A refused t0); B still held t1 and refused it in
    # after_flush, and A's own hook failed. Before, t1 was reported dispatched at its call and
    # the hook's error hid B's refusal: dispatched, though B never got it.
    a = HookedBroker("A", {"t0": ["refuse"]}, hook=RuntimeError("A: close failed"))
    b = HookedBroker("B", {"t1": ["refuse"]})
    fates: dict[str, list[str]] = {}
    with pytest.raises(airlock.DispatchError):
        flush(broadcast(batching(a, size=2), batching(b, size=3)), ["t0", "t1", "t2"], fates)
    assert b.accepted == ["t0", "t2"]
    assert fates["t1"] == ["failed"] and fates["t0"] == ["failed"]


def test_an_error_that_fails_a_whole_batch_keeps_what_another_named() -> None:
    # One batching behind two engine entries (the default, and a with_retry by name): its
    # send refuses p, then its broker's hook fails once. The hook's error won and dropped
    # p's name; the second entry found nothing to send: p dispatched, never sent.
    a = HookedBroker("A", {"p": ["refuse"]}, hook=RuntimeError("A: hook failed"), times=1)
    shared = batching(a, size=10)
    airlock.register_executor("plain", with_retry(shared, attempts=1, sleep=no_sleep))
    fates: dict[str, list[str]] = {}
    with pytest.raises(airlock.DispatchError):
        flush(shared, ["t0", "p"], fates, by_name="plain")
    assert fates["p"] == ["failed"] and len(fates["t0"]) == 1  # t0 went; failed: conservative


def test_an_interrupt_in_a_broadcast_keeps_what_the_members_before_it_said() -> None:
    # A's batch [t0, t1, t2] fails whole on t2's call; then P is interrupted on t2. The
    # interrupt dropped what A said: t0 and t1 were reported dispatched, A never took them.
    a, p = Broker("A", down=(0,)), Broker("P", kbi=2, bulk=False)
    fates: dict[str, list[str]] = {}
    with pytest.raises(KeyboardInterrupt):
        flush(broadcast(batching(a, size=3), p), ["t0", "t1", "t2", "t3"], fates)
    assert a.accepted == []
    assert fates == {name: ["failed"] for name in ["t0", "t1", "t2", "t3"]}


def test_a_fallback_never_vouches_for_what_a_broadcast_member_still_held() -> None:
    # B still held t1 when the fallback took it; B refused it, t1 went to C, whose hook then
    # failed whole; D's hook was interrupted. The fallback's note vouched for t1.
    a, b = HookedBroker("A", {"t0": ["refuse"]}), HookedBroker("B", {"t1": ["refuse"]})
    c = HookedBroker("C", hook=RuntimeError("C: hook failed"), bulk=False)
    d = HookedBroker("D", hook=KeyboardInterrupt("D: hook"), bulk=False)
    fates: dict[str, list[str]] = {}
    executor = with_fallback(broadcast(batching(a, size=2), batching(b, size=3)), c, d)
    with pytest.raises(KeyboardInterrupt):
        flush(executor, ["t0", "t1"], fates)
    assert "t1" not in b.accepted and fates["t1"] == ["failed"]


def test_a_broadcast_passes_on_what_a_member_left_in_doubt() -> None:
    # A's batch left t0 in doubt; broadcast's error dropped that, and the fallback sent t0
    # again to C.
    a, p, c = Broker("A", {"t0": ["doubt"]}), Broker("P", bulk=False), Broker("C", bulk=False)
    fates: dict[str, list[str]] = {}
    with pytest.raises(airlock.DispatchError):
        flush(with_fallback(broadcast(batching(a, size=2), p), c), ["t0", "t1"], fates)
    assert c.log == [] and fates == {"t0": ["failed"], "t1": ["dispatched"]}


def test_a_retry_in_after_flush_reports_what_it_gave_up_when_a_resend_is_in_doubt() -> None:
    # Found by the fuzzer: the outer retry re-hands what failed to the inner one in its
    # after_flush; one re-handed call sent a batch that left t5 in doubt, and that error
    # escaped the loop without the report of what was given up before (t2, t3, t4, in doubt):
    # they were reported dispatched, never sent.
    plan = {"t0": ["refuse", "refuse"], "t2": ["doubt"], "t3": ["doubt"], "t4": ["doubt"],
            "t5": ["doubt", "doubt"]}
    single, spare = Broker("single", plan, bulk=False), Broker("spare")
    inner = with_retry(batching(single, size=3), attempts=1, sleep=no_sleep)
    executor = with_fallback(with_retry(inner, attempts=3, sleep=no_sleep), batching(spare))
    fates: dict[str, list[str]] = {}
    with pytest.raises(airlock.DispatchError):
        flush(executor, [f"t{n}" for n in range(6)], fates)
    assert single.accepted == ["t0", "t1"] and spare.log == []
    assert fates == {"t0": ["dispatched"], "t1": ["dispatched"], "t2": ["failed"],
                     "t3": ["failed"], "t4": ["failed"], "t5": ["failed"]}


@pytest.mark.parametrize(
    ("make", "last"),
    [
        # route splits the batch [t0,t1,t2] into a: [t0,t2] and b: [t1]; b is interrupted
        # (t3 was never sent). Before, t0 and t2, accepted, were reported failed with it.
        (lambda a, b, by: batching(route({"a": a, "b": b}, by=by), size=3), "a"),
        # Path b's last batch is interrupted in after_flush; path a's went. The engine holds
        # every routed intent under route, which did not say which path took which: all were
        # reported failed (a relay would have sent t0 and t2 again).
        (lambda a, b, by: route({"a": batching(a, size=10), "b": batching(b, size=10)}, by=by),
         "b"),
    ],
    ids=["split-batch", "after-flush"],
)
def test_an_interrupt_on_one_route_keeps_what_the_others_sent(make: Any, last: str) -> None:
    a, b = Broker("A"), Broker("B", kbi=0)
    paths = {"t0": "a", "t1": "b", "t2": "a", "t3": last}
    fates: dict[str, list[str]] = {}
    with pytest.raises(KeyboardInterrupt):
        flush(make(a, b, lambda i: paths[i.name]), ["t0", "t1", "t2", "t3"], fates)
    assert a.accepted == ["t0", "t2"] and b.accepted == []
    assert fates == {"t0": ["dispatched"], "t1": ["failed"], "t2": ["dispatched"],
                     "t3": ["failed"]}


def test_an_interrupt_in_a_broadcast_members_after_flush_keeps_what_all_members_took() -> None:
    # B's last batch [t2] is interrupted; [t0, t1] had reached both members. Before, the
    # engine could not tell and reported all three failed.
    a, b = Broker("A"), Broker("B", kbi=1)
    fates: dict[str, list[str]] = {}
    with pytest.raises(KeyboardInterrupt):
        flush(broadcast(batching(a, size=2), batching(b, size=2)), ["t0", "t1", "t2"], fates)
    assert a.accepted == ["t0", "t1", "t2"] and b.accepted == ["t0", "t1"]
    assert fates == {"t0": ["dispatched"], "t1": ["dispatched"], "t2": ["failed"]}


def test_an_interrupt_keeps_what_a_retry_gave_up_on_and_what_a_route_took() -> None:
    # Found by the fuzzer. t2's call sends [t0, t1, t2] on path b, which leaves t1 in doubt:
    # the retry gives it up, to report in after_flush. There, path a's broker hook is
    # interrupted. Before, the retry's report was lost with the interrupt (t1 dispatched, in
    # doubt) and route, which had not recorded t2 (its call raised for t1), failed t2.
    a = HookedBroker("A", hook=KeyboardInterrupt("A: hook"))
    b = Broker("B", {"t1": ["doubt"]})
    routes = route({"a": batching(with_retry(a, sleep=no_sleep), size=2),
                    "b": batching(b, size=3)}, by=lambda i: "b")
    fates: dict[str, list[str]] = {}
    with pytest.raises(KeyboardInterrupt):
        flush(with_retry(routes, sleep=no_sleep), ["t0", "t1", "t2"], fates)
    assert b.accepted == ["t0", "t2"]
    assert fates == {"t0": ["dispatched"], "t1": ["failed"], "t2": ["dispatched"]}


def _named_and_interrupted() -> tuple[Any, list[str], str]:
    # p goes by name to a batching that is also a route; another route's hook is interrupted
    # first, then the batching's send: the second interrupt's note (naming p) was dropped.
    shared = batching(Broker("X", kbi=0), size=10)
    airlock.register_executor("plain", shared)
    hooked = HookedBroker("Y", hook=KeyboardInterrupt("Y: hook"), bulk=False)
    return route({"a": hooked, "b": shared}, by=lambda i: "a" if i.name == "t0" else "b"), [
        "t0", "p"], "plain"


def _sent_by_another_route() -> tuple[Any, list[str], str]:
    # The fallback route sends the shared batch [t1, p] and is interrupted; route c (the same
    # batching) then had nothing left to send and counted p as sent.
    shared = batching(Broker("A", kbi=0), size=10)
    hooked = HookedBroker("Y", hook=KeyboardInterrupt("Y: hook"), bulk=False)
    keys = {"t0": "a", "t1": "b", "p": "c"}
    return route({"a": hooked, "b": with_fallback(shared, Broker("X", bulk=False)),
                  "c": shared}, by=lambda i: keys[i.name]), ["t0", "t1", "p"], ""


def _named_then_fails_all_then_interrupted() -> tuple[Any, list[str], str]:
    # Route a's batch names p failed; route b's hook fails everything (it won, keeping p in a
    # note); route c is interrupted, and the interrupt dropped that note.
    keys = {"t0": "b", "t1": "c", "p": "a"}
    return route({"a": batching(Broker("A", {"p": ["refuse"]}), size=3),
                  "b": HookedBroker("Y", hook=RuntimeError("Y: hook"), bulk=False),
                  "c": batching(Broker("C", kbi=0), size=3)}, by=lambda i: keys[i.name]), [
        "t0", "t1", "p"], ""


def _interrupted_while_falling_back() -> tuple[Any, list[str], str]:
    # The shared batch [t0, p, t2] fails whole in t2's call; handing t0 on is interrupted,
    # and what the batch said of p (sent to the batching by name) was lost.
    shared = batching(Broker("B", down=(0,)), size=3)
    airlock.register_executor("plain", shared)
    spare = with_retry(Broker("S", {"t0": ["refuse"]}, kbi=1, bulk=False), sleep=no_sleep)
    return with_fallback(shared, spare), ["t0", "p", "t2"], "plain"


@pytest.mark.parametrize(
    "make",
    [_named_and_interrupted, _sent_by_another_route, _named_then_fails_all_then_interrupted,
     _interrupted_while_falling_back],
)
def test_what_one_error_names_failed_survives_every_interrupt_joined_to_it(make: Any) -> None:
    executor, names, by_name = make()
    fates: dict[str, list[str]] = {}
    with pytest.raises(KeyboardInterrupt):
        flush(executor, names, fates, by_name=by_name)
    assert fates["p"] == ["failed"]  # no broker took it
    assert all(len(fate) == 1 for fate in fates.values()) and set(fates) == set(names)


def test_a_broadcast_reaching_one_buffering_executor_twice_is_refused() -> None:
    # Each intent went to it twice, and one copy's failure hid the other's.
    shared = batching(Broker("A"), size=2)
    with pytest.raises(TypeError, match="from members 1 and 2"):
        broadcast(shared, with_fallback(shared, Broker("X", bulk=False)))


def test_an_interrupt_while_a_retry_hands_a_failed_batch_back_keeps_it_failed() -> None:
    # Found by the fuzzer: t2's call sends [t0, t1, t2], which refuses t1; handing t1 back to
    # the broadcast is interrupted (its first member). Before, the batch's word on t1 was
    # lost: t1 was reported dispatched, though B never took it.
    single = Broker("S", kbi=3, bulk=False)
    bulk = Broker("B", {"t1": ["refuse"], "t2": ["refuse"]}, down=(1,))
    executor = with_retry(broadcast(single, batching(bulk, size=3)), attempts=2,
                          sleep=no_sleep)
    fates: dict[str, list[str]] = {}
    with pytest.raises(KeyboardInterrupt):
        flush(executor, ["t0", "t1", "t2", "t3"], fates)
    assert bulk.accepted == ["t0"] and fates["t1"] == ["failed"]
    assert all(len(fate) == 1 for fate in fates.values()) and len(fates) == 4
