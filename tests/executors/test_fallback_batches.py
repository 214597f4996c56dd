"""``with_fallback`` around executors that buffer (``batching()``, a retry around one): a batch
that fails takes its failed intents to the next executor, whichever call or hook sent it; what
went is never sent again, what is in doubt never, and what no executor took is ``failed``
(SPEC 2.6: before, the batch's other intents were reported ``dispatched`` and never sent)."""

from __future__ import annotations

import pytest

import airlock
import airlock.testing
from airlock.exceptions import BatchDispatchError
from airlock.executors import batching, instrumented, route, with_fallback, with_retry
from tests.executors.helpers import Recorder, noop, run_threads
from tests.executors.test_wrapper_batches import NAMES, Bulk, flush_seven, no_sleep


def fates(seen: airlock.testing.Capture) -> dict[str, str]:
    return {r.name: r.fate for r in seen}


def test_a_batch_that_fails_in_a_call_goes_whole_to_the_fallback() -> None:
    down, spare = Bulk("down", fail=10), Recorder("spare")
    seen = flush_seven(with_fallback(batching(down, size=3), spare))
    assert sorted(i.name for i in spare.received) == NAMES  # each once
    assert down.delivered == []
    assert fates(seen) == dict.fromkeys(NAMES, "dispatched")


def test_only_what_a_partial_batch_failed_goes_to_the_fallback() -> None:
    bulk, spare = Bulk(refuse=("t0", "t4")), Recorder("spare")
    seen = flush_seven(with_fallback(batching(bulk, size=3), spare))
    assert sorted(i.name for i in spare.received) == ["t0", "t4"]
    assert sorted(bulk.delivered) == sorted(set(NAMES) - {"t0", "t4"})
    assert fates(seen) == dict.fromkeys(NAMES, "dispatched")


class Unanswered:
    """A bulk API whose connection breaks while the broker answers: the batch is in doubt."""

    __name__ = "unanswered"

    def __call__(self, intent: airlock.Intent) -> None:
        raise AssertionError("batches only")

    def send_batch(self, intents: list[airlock.Intent]) -> None:
        error = ConnectionError("no answer")
        raise BatchDispatchError("no answer", in_doubt=intents,
                                 errors=[(i, error) for i in intents])


def test_what_is_in_doubt_never_goes_to_the_fallback_and_fails() -> None:
    spare = Recorder("spare")
    with airlock.testing.capture(execute=True) as seen:
        try:
            with airlock.scope(executor=with_fallback(batching(Unanswered(), size=2), spare)):
                for n in range(3):
                    airlock.enqueue(noop, _name=f"t{n}")
        except airlock.DispatchError:
            pass
    assert spare.received == []
    assert fates(seen) == {"t0": "failed", "t1": "failed", "t2": "failed"}


def test_a_partial_batch_that_fails_in_after_flush_goes_to_the_fallback() -> None:
    bulk, spare = Bulk(refuse=("t6",)), Recorder("spare")  # t6 is in the last, partial batch
    seen = flush_seven(with_fallback(batching(bulk, size=3), spare))
    assert [i.name for i in spare.received] == ["t6"]
    assert fates(seen) == dict.fromkeys(NAMES, "dispatched")


def test_a_fallback_that_buffers_too_sends_in_its_own_after_flush() -> None:
    down, spare = Bulk("down", fail=10), Bulk("spare")
    seen = flush_seven(with_fallback(batching(down, size=3), batching(spare, size=3)))
    assert sorted(spare.delivered) == NAMES and down.delivered == []
    assert fates(seen) == dict.fromkeys(NAMES, "dispatched")


def test_what_no_executor_takes_fails_and_nothing_is_reported_sent_twice() -> None:
    down, also_down = Bulk("down", fail=10), Bulk("also", fail=10)
    with airlock.testing.capture(execute=True) as seen:
        try:
            with airlock.scope(executor=with_fallback(batching(down, size=3),
                                                      batching(also_down, size=3))):
                for n in range(7):
                    airlock.enqueue(noop, _name=f"t{n}")
        except airlock.DispatchError:
            pass
    assert down.delivered == also_down.delivered == []
    assert fates(seen) == dict.fromkeys(NAMES, "failed")


def test_what_a_retry_gives_up_on_goes_to_the_fallback() -> None:
    down, spare = Bulk("down", fail=100), Recorder("spare")
    seen = flush_seven(with_fallback(with_retry(batching(down, size=3), sleep=no_sleep), spare))
    assert sorted(i.name for i in spare.received) == NAMES
    assert fates(seen) == dict.fromkeys(NAMES, "dispatched")


def test_a_failed_flush_nested_in_a_call_is_not_taken_for_a_batch() -> None:
    # The primary runs the task inline (as sync_executor does); the task's own scope fails its
    # follow-up. That DispatchError names the follow-up, which this flush never handed to the
    # fallback: it must not go to the spare (it already has its fate, failed).
    spare = Recorder("spare")

    def follow_up() -> None:
        pass

    def broken(intent: airlock.Intent) -> None:
        raise ConnectionError("follow-up executor down")

    def task() -> None:
        with airlock.scope(executor=broken):
            airlock.enqueue(follow_up)

    def inline(intent: airlock.Intent) -> None:
        intent.task()

    with airlock.testing.capture(execute=True) as seen:
        with airlock.scope(executor=with_fallback(inline, spare)):
            airlock.enqueue(task)
    assert [i.name for i in spare.received] == ["task"]  # the task itself falls back, as before
    assert fates(seen) == {"task": "dispatched", "follow_up": "failed"}


def test_each_flush_falls_back_its_own_under_eight_threads() -> None:
    down, spare = Bulk("down", fail=1000), Recorder("spare")
    executor = with_fallback(batching(down, size=3), spare)

    def produce(n: int) -> None:
        with airlock.scope(executor=executor):
            for k in range(5):
                airlock.enqueue(noop, _name=f"p{n}-{k}")

    with airlock.testing.capture(execute=True) as seen:
        assert run_threads(8, produce) == []
    names = [i.name for i in spare.received]
    assert sorted(names) == sorted(f"p{n}-{k}" for n in range(8) for k in range(5))
    assert len(names) == len(set(names)) == 40
    assert all(r.fate == "dispatched" for r in seen) and len(seen.records) == 40


def run(executor: object, count: int) -> dict[str, str]:
    """Enqueue ``count`` intents on ``executor``; the fate of each by name."""
    with airlock.testing.capture(execute=True) as seen:
        try:
            with airlock.scope(executor=executor):  # type: ignore[arg-type]
                for n in range(count):
                    airlock.enqueue(noop, _name=f"t{n}")
        except BaseException:  # the fates are what is checked
            pass
    return fates(seen)


class Counted(Unanswered):
    """``Unanswered``, counting each intent it was handed (in doubt: it may have sent them)."""

    def __init__(self) -> None:
        self.got: list[str] = []

    def send_batch(self, intents: list[airlock.Intent]) -> None:
        self.got += [i.name for i in intents]
        super().send_batch(intents)


def test_what_is_in_doubt_is_never_resent_by_a_fallback_or_a_retry_around_it() -> None:
    # t0 and t1 go in one batch whose answer is lost: in doubt, whatever wraps what.
    for wrap in (
        lambda p, s: with_fallback(with_fallback(batching(p, size=2), Recorder("s1", fail=9)), s),
        lambda p, s: with_fallback(with_retry(batching(p, size=2), sleep=no_sleep), s),
        lambda p, s: with_retry(with_fallback(batching(p, size=2), s), sleep=no_sleep),
    ):
        primary, spare = Counted(), Recorder("spare")
        seen = run(wrap(primary, spare), 2)
        assert primary.got == ["t0", "t1"] and spare.received == []
        assert seen == {"t0": "failed", "t1": "failed"}


def test_an_error_naming_intents_of_another_path_is_not_swallowed() -> None:
    down, spare = Bulk("down", fail=10), Recorder("spare")
    shared = batching(down, size=10)
    seen = run(route({"t0": with_fallback(shared, spare)}, default=shared), 2)
    assert [i.name for i in spare.received] == ["t0"]
    assert seen == {"t0": "dispatched", "t1": "failed"}  # t1 went straight to the shared batch


def test_batching_around_an_executor_that_buffers_is_refused_naming_the_fix() -> None:
    # Its one-by-one send counted what the inner batching only held as sent: an intent that
    # batch then failed was reported dispatched, another was sent twice.
    down = Bulk("down", fail=10)
    with pytest.raises(TypeError, match="around the executor that sends"):
        batching(with_fallback(batching(down, size=2), Recorder("spare")), size=10)


def test_an_interrupt_while_a_failed_batch_goes_to_the_fallback_fails_what_it_stopped() -> None:
    class Interrupting(Recorder):
        def __call__(self, intent: airlock.Intent) -> None:
            if intent.name == "t0":
                raise KeyboardInterrupt
            super().__call__(intent)

    down, spare = Bulk("down", fail=10), Interrupting("spare")
    seen = run(with_fallback(batching(down, size=3), spare), 4)
    assert down.delivered == [] and spare.received == []
    assert seen == dict.fromkeys(["t0", "t1", "t2", "t3"], "failed")


def test_the_same_buffering_executor_at_two_levels_is_refused_when_built() -> None:
    # A batch it failed went back to it, and what it held for one level was taken for the
    # other's: an intent it refused twice was reported dispatched.
    shared = batching(Bulk("down"), size=10)
    for make in (lambda: with_fallback(shared, shared),
                 lambda: with_fallback(with_retry(shared, sleep=no_sleep), Recorder(), shared),
                 lambda: with_fallback(route({}, default=shared), instrumented(shared))):
        with pytest.raises(TypeError, match=r"from levels 1 and [23]"):
            make()
    with_fallback(shared, batching(Bulk("spare"), size=10))  # another one: fine


class LosesItsBuffer:
    """Buffers what it is handed and loses it in after_flush, with ``error`` (``bad`` is
    refused at once)."""

    __name__ = "loses"

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __call__(self, intent: airlock.Intent) -> None:
        if intent.name == "bad":
            raise ValueError("refused")

    def after_flush(self) -> None:
        raise self.error


def test_an_error_that_fails_a_whole_batch_is_not_narrowed_by_another() -> None:
    # batching's send names "bad"; the hook's error names nothing: it failed everything.
    for error in (ConnectionError("broker down"), airlock.DispatchError("broker down")):
        seen = run(batching(LosesItsBuffer(error), size=10), 3)
        assert seen == dict.fromkeys(["t0", "t1", "t2"], "failed"), error


def test_a_fallback_whose_hook_fails_everything_fails_what_it_took() -> None:
    seen = run(with_fallback(batching(Unanswered(), size=10),
                             LosesItsBuffer(airlock.DispatchError("broker down"))), 2)
    assert seen == {"t0": "failed", "t1": "failed"}


def test_an_interrupt_keeps_what_a_hook_named_failed() -> None:
    class Interrupt:
        __name__ = "interrupt"

        def __call__(self, intent: airlock.Intent) -> None:
            raise KeyboardInterrupt

    down = Bulk("down", fail=10)
    inner = route({"t1": Interrupt()},
                  default=with_fallback(batching(down, size=10), Recorder("spare", fail=9)))
    assert run(inner, 2) == {"t0": "failed", "t1": "failed"}
    assert down.delivered == []


class Scripted:
    """A bulk API that answers each send_batch by its script: "ok", a set of names it refuses
    (the rest go), ("doubt", names): those may have gone, or ("both", refused, in doubt)."""

    __name__ = "scripted"

    def __init__(self, *script: object) -> None:
        self.script = list(script)
        self.got: list[str] = []

    def __call__(self, intent: airlock.Intent) -> None:
        raise AssertionError("batches only")

    def send_batch(self, intents: list[airlock.Intent]) -> None:
        step = self.script.pop(0) if self.script else "ok"
        error = ConnectionError("refused")
        if step == "ok":
            self.got += [i.name for i in intents]
            return
        refused, unsure = (step, set()) if not isinstance(step, tuple) else (
            (set(), step[1]) if step[0] == "doubt" else (step[1], step[2]))
        doubt = [i for i in intents if i.name in unsure]
        unsent = [i for i in intents if i.name in refused]  # type: ignore[operator]
        went = [i for i in intents if i not in doubt and i not in unsent]
        self.got += [i.name for i in went]
        raise BatchDispatchError("refused", sent=went, in_doubt=doubt, unsent=unsent,
                                 errors=[(i, error) for i in [*unsent, *doubt]])


def test_a_retry_reports_what_it_gave_up_on_when_the_last_batch_is_in_doubt() -> None:
    # t0 is refused twice (given up); the last batch, t3, is in doubt: both are failed.
    bulk = Scripted({"t0"}, {"t0"}, ("doubt", {"t3"}))
    seen = run(with_retry(batching(bulk, size=2), attempts=2, sleep=no_sleep), 4)
    assert bulk.got == ["t1", "t2"]
    assert seen == {"t0": "failed", "t1": "dispatched", "t2": "dispatched", "t3": "failed"}


def test_a_batch_that_fails_others_reports_the_intent_whose_call_sent_it_dispatched() -> None:
    # t1's call fills the batch; the broker refuses t0 only: t1 went (the error's ``sent``).
    # Before, t1 was reported failed, as if its call had failed. The error stops the flush
    # (fail-fast): t2 is not sent.
    for wrap in (lambda b: b, lambda b: route({}, default=b)):
        bulk = Scripted({"t0"})
        seen = run(wrap(batching(bulk, size=2)), 3)
        assert bulk.got == ["t1"]
        assert seen == {"t0": "failed", "t1": "dispatched", "t2": "failed"}


def test_a_shared_batch_that_fails_another_paths_intent_neither_resends_nor_hides_it() -> None:
    # t0 goes straight to the shared batching; t1 through a fallback, and its call sends the
    # batch [t0, t1], which fails t0 only. Before, t1 was sent again to the spare and t0's
    # failure was swallowed (reported dispatched, never sent).
    for size in (2, 10):  # sent from t1's call, or in after_flush
        bulk, spare = Scripted({"t0"}), Recorder("spare")
        shared = batching(bulk, size=size)
        seen = run(route({"t1": with_fallback(shared, spare)}, default=shared), 2)
        assert bulk.got == ["t1"] and spare.received == []
        assert seen == {"t0": "failed", "t1": "dispatched"}


def test_a_fallback_under_batching_never_fails_what_a_later_executor_delivered() -> None:
    # The primary refuses t1 and leaves t0 in doubt; the second executor delivers t1. Before,
    # the batch error still named t1 failed, and the outer fallback sent it a third time.
    primary, second, last = Scripted(("both", {"t1"}, {"t0"})), Scripted(), Recorder("last")
    inner = with_fallback(primary, second)
    seen = run(batching(with_fallback(inner, last), size=3), 3)
    assert primary.got == ["t2"] and second.got == ["t1"] and last.received == []
    assert seen == {"t0": "failed", "t1": "dispatched", "t2": "dispatched"}
