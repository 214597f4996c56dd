from __future__ import annotations

import pytest

import airlock
from airlock.executors import with_fallback
from tests.executors.helpers import Recorder, intent, run_threads


def test_first_success_wins_and_later_executors_are_not_called() -> None:
    primary, backup = Recorder("primary"), Recorder("backup")
    with_fallback(primary, backup)(intent("a"))
    assert [i.name for i in primary.received] == ["a"] and backup.calls == 0


def test_falls_back_in_order() -> None:
    primary, second, third = Recorder("p", fail=99), Recorder("s", fail=99), Recorder("t")
    with_fallback(primary, second, third)(intent("a"))
    assert (primary.calls, second.calls, len(third.received)) == (1, 1, 1)


def test_all_failing_raises_dispatch_error_with_every_failure() -> None:
    a, b = Recorder("celery", fail=99), Recorder("sync", fail=99)
    i = intent("send_receipt")
    with pytest.raises(airlock.DispatchError) as info:
        with_fallback(a, b)(i)
    err = info.value
    assert [type(e) for _, e in err.errors] == [ConnectionError, ConnectionError]
    assert all(x is i for x, _ in err.errors)
    assert "celery" in str(err) and "sync" in str(err) and "send_receipt" in str(err)
    assert err.__cause__ is err.errors[-1][1]


def test_under_eight_threads_each_intent_lands_exactly_once() -> None:
    primary = Recorder("p", fail=lambda i: i.name.endswith("odd"))
    backup = Recorder("b")
    ex = with_fallback(primary, backup)
    errors = run_threads(
        8, lambda n: [ex(intent(f"t{n}-{k}-{'odd' if k % 2 else 'even'}")) for k in range(20)]
    )
    assert errors == []
    assert len(primary.received) == 80 and len(backup.received) == 80
    names = [i.name for i in primary.received + backup.received]
    assert len(set(names)) == 160


def test_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="not a callable executor"):
        with_fallback(Recorder(), None)  # type: ignore[arg-type]
