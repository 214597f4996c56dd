"""The relay: sends ready rows, retries with backoff, parks dead rows, survives bad rows."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from django.core.management import call_command
from django.utils import timezone

import airlock
from airlock.integrations.django.outbox.models import OutboxMessage
from airlock.integrations.django.outbox.relay import Relay, backoff, decode
from tests.outbox.conftest import deliver, delivered, failures, flaky, rows, stored

pytestmark = pytest.mark.django_db


def test_relay_sends_ready_rows_in_order_and_marks_them_sent() -> None:
    for n in range(5):
        stored(deliver, n, note="x")
    relay = Relay()
    assert relay.drain() == 5
    assert delivered == [(n, "x") for n in range(5)]
    assert {r.status for r in rows()} == {"sent"}
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows())
    assert relay.counts.as_dict() == {"sent": 5, "retried": 0, "dead": 0}
    assert Relay().drain() == 0  # nothing is sent twice


def test_rows_within_the_grace_period_wait_for_their_own_process(settings: Any) -> None:
    settings.AIRLOCK = {"OUTBOX": {"GRACE": 3600}}
    stored(deliver, 1)
    assert Relay().drain() == 0
    assert rows(status="pending")


def test_the_message_id_is_the_key_else_the_intent_id() -> None:
    seen: list[airlock.Intent] = []
    keyed = stored(deliver, 1, _key="order-1-receipt")
    plain = stored(deliver, 2)
    Relay(executor=seen.append).drain()
    assert [(i.key, i.id) for i in seen] == [("order-1-receipt", keyed.id), (None, plain.id)]
    assert [r.message_id for r in rows()] == ["order-1-receipt", plain.id]


def test_arguments_and_options_reach_the_executor_with_their_types() -> None:
    seen: list[airlock.Intent] = []
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    stored(deliver, Decimal("1.50"), note=UUID(int=7))
    intent = airlock.Intent(
        task=deliver, args=(1,), dispatch_options={"durable": True, "eta": when, "queue": "q"}
    )
    from airlock.integrations.django.outbox import recorder

    recorder.record(intent)
    recorder.forget()
    Relay(executor=seen.append).drain()
    assert seen[0].args == (Decimal("1.50"),) and seen[0].kwargs == {"note": UUID(int=7)}
    assert repr(seen[0].args[0]) == "Decimal('1.50')"
    # the "durable" marker is airlock's own; executors get the other options as they were
    assert dict(seen[1].dispatch_options) == {"eta": when, "queue": "q"}


def test_rows_written_before_the_codec_still_decode_as_they_did() -> None:
    # A format-1 payload, as the previous encoder wrote it (Django's JSON encoder, no "v").
    old = (
        '{"args":[1,"1.50",["a",{"$type":"x"}]],'
        '"kwargs":{"note":"00000000-0000-0000-0000-000000000007"},'
        '"options":{"eta":"2030-01-02T03:04:05Z","queue":"q"},"name":null,"origin":"views.py:3",'
        '"key":"k-1","id":"4f1c"}'
    )
    intent = decode("airlock:tests.deliver", old)
    assert intent.task is deliver
    assert intent.args == (1, "1.50", ["a", {"$type": "x"}])  # no tag is read in old rows
    assert intent.kwargs == {"note": "00000000-0000-0000-0000-000000000007"}
    eta = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert dict(intent.dispatch_options) == {"eta": eta, "queue": "q"}
    assert (intent.key, intent.id, intent.origin) == ("k-1", "4f1c", "views.py:3")


def test_a_failing_send_is_retried_with_backoff_then_delivered() -> None:
    failures["flaky"] = 1
    stored(flaky, 7)
    relay = Relay()
    assert relay.drain() == 1
    (row,) = rows()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == "ConnectionError: broker unreachable"
    relay.drain()
    assert delivered == [(7, "flaky")]
    assert rows()[0].status == "sent"
    assert relay.counts.as_dict() == {"sent": 1, "retried": 1, "dead": 0}


def test_backoff_doubles_with_jitter_and_is_capped(settings: Any) -> None:
    settings.AIRLOCK = {"OUTBOX": {"BACKOFF": 2, "MAX_BACKOFF": 10}}
    from airlock.integrations.django.outbox import recorder

    conf = recorder.current_settings()
    for attempts, full in [(1, 2), (2, 4), (3, 8), (4, 10), (9, 10)]:
        delays = {backoff(attempts, conf).total_seconds() for _ in range(20)}
        assert all(full / 2 <= d <= full for d in delays)
        assert len(delays) > 1  # jitter: retries of many rows do not stampede together


def test_a_retried_row_waits_for_its_backoff(settings: Any) -> None:
    settings.AIRLOCK = {"OUTBOX": {"GRACE": 0, "BACKOFF": 3600, "MAX_BACKOFF": 7200}}
    failures["flaky"] = 1
    stored(flaky, 1)
    Relay().drain()
    (row,) = rows()
    assert row.available_at > timezone.now() + dt.timedelta(minutes=29)
    assert Relay().drain() == 0


def test_a_row_is_dead_after_max_attempts_with_its_error() -> None:
    failures["flaky"] = 10
    stored(flaky, 1)
    stored(deliver, 2)
    relay = Relay()
    for _ in range(3):
        relay.drain()
    dead, ok = rows()
    assert (dead.status, dead.attempts) == ("dead", 3)
    assert "gave up after 3 attempts" in dead.last_error
    assert "ConnectionError: broker unreachable" in dead.last_error
    assert ok.status == "sent" and delivered == [(2, "")]
    assert relay.counts.as_dict() == {"sent": 1, "retried": 2, "dead": 1}
    assert relay.drain() == 0  # dead rows are left alone


@pytest.mark.parametrize(
    ("task", "payload", "error"),
    [
        ("builtins.eval", None, "unknown task reference 'builtins.eval'"),
        ("airlock:os.system", None, "unknown task reference 'airlock:os.system'"),
        ("celery:no.such.task", None, "unknown task reference 'celery:no.such.task'"),
        ("airlock:tests.deliver", "\x80\x04pickle", "payload is not valid JSON"),
        ("airlock:tests.deliver", '{"args": "rm -rf", "kwargs": {}}', "payload lacks args"),
        ("airlock:tests.deliver", '{"args": [], "kwargs": {}, "options": {}}', "no intent id"),
        (
            "airlock:tests.deliver",
            '{"v": 2, "args": [{"$type": "os.system", "value": "x"}], "kwargs": {}, '
            '"options": {}, "id": "i"}',
            "payload does not decode (unknown tagged value",
        ),
        (
            "airlock:tests.deliver",
            '{"v": 2, "args": [{"$type": "Decimal", "value": "1.2.3"}], "kwargs": {}, '
            '"options": {}, "id": "i"}',
            "payload does not decode (bad Decimal value '1.2.3'",
        ),
        (
            "airlock:tests.deliver",
            '{"v": 99, "args": [], "kwargs": {}, "options": {}, "id": "i"}',
            "payload format 99 is unknown",
        ),
    ],
)
def test_a_tampered_row_goes_dead_and_the_relay_carries_on(
    task: str, payload: str | None, error: str
) -> None:
    stored(deliver, 1)
    bad = rows()[0]
    stored(deliver, 2)
    OutboxMessage.objects.filter(pk=bad.pk).update(task=task, payload=payload or bad.payload)
    relay = Relay()
    relay.drain()
    bad.refresh_from_db()
    assert bad.status == "dead" and error in bad.last_error
    assert delivered == [(2, "")]
    assert relay.counts.as_dict() == {"sent": 1, "retried": 0, "dead": 1}


def test_decode_never_imports_a_path_from_the_table() -> None:
    import sys

    sys.modules.pop("antigravity", None)
    with pytest.raises(ValueError, match="unknown task reference"):
        decode("airlock:antigravity.fly", json.dumps({"args": [], "kwargs": {}, "options": {}}))
    assert "antigravity" not in sys.modules


def test_undecided_rows_can_be_parked_as_dead_instead(settings: Any) -> None:
    settings.AIRLOCK = {"OUTBOX": {"GRACE": 0, "UNDECIDED": "dead"}}
    stored(deliver, 1)
    Relay().drain()
    (row,) = rows()
    assert row.status == "dead" and row.last_error.startswith("undecided")
    assert delivered == []


def test_a_named_executor_option_is_honoured_by_the_relay() -> None:
    mail: list[airlock.Intent] = []
    airlock.configure(executors={"mail": mail.append})
    intent = airlock.Intent(task=deliver, args=(1,), dispatch_options={"executor": "mail"})
    from airlock.integrations.django.outbox import recorder

    recorder.record(intent.replace(dispatch_options={"executor": "mail", "durable": True}))
    recorder.forget()
    Relay().drain()
    assert [str(i) for i in mail] == ["deliver(1)"] and mail[0].dispatch_options == {}
    assert delivered == []


def test_the_command_once_drains_and_prints_counters(capsys: Any) -> None:
    for n in range(3):
        stored(deliver, n)
    failures["flaky"] = 1
    stored(flaky, 9)
    call_command("airlock_relay", "--once", "--batch-size", "2")
    out, err = capsys.readouterr()
    from django.db import connection

    # SQLite has no row locks: the command says to run a single relay there
    assert ("run only one relay at a time" in err) is (connection.vendor == "sqlite")
    # no backoff configured here, so the retry is ready again within the same drain
    assert "sent=4 retried=1 dead=0" in out
    assert sorted(delivered) == [(0, ""), (1, ""), (2, ""), (9, "flaky")]


def test_the_relay_can_send_with_its_own_executor(settings: Any) -> None:
    from tests.outbox.conftest import relayed

    settings.AIRLOCK = {
        "OUTBOX": {"GRACE": 0, "EXECUTOR": "tests.outbox.conftest.relay_executor"}
    }
    stored(deliver, 1)
    Relay().drain()
    assert [str(i) for i in relayed] == ["deliver(1)"] and delivered == []


@pytest.mark.parametrize("tqdm", [True, False])
def test_a_backlog_on_a_terminal_gets_a_progress_bar(monkeypatch: Any, tqdm: bool) -> None:
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self) -> bool:  # the only way to be a terminal inside pytest
            return True

    for n in range(5):
        stored(deliver, n)
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    if tqdm:
        pytest.importorskip("tqdm")
    else:
        monkeypatch.setitem(sys.modules, "tqdm", None)  # as if not installed: the built-in bar
    call_command("airlock_relay", "--once", "--batch-size", "2")
    assert "5/5" in screen.getvalue()
    assert ("#" * 30 in screen.getvalue()) is not tqdm
    assert len(delivered) == 5


def test_sigterm_mid_batch_stops_after_the_send_in_progress_and_the_command_exits(
    settings: Any, capsys: Any
) -> None:
    from tests.outbox.conftest import relayed, sigterm_at

    settings.AIRLOCK = {
        "OUTBOX": {"GRACE": 0, "EXECUTOR": "tests.outbox.conftest.relay_executor"}
    }
    for n in range(10):
        stored(deliver, n)
    sigterm_at.append(2)  # the signal lands during the second send of the first batch of 4
    call_command("airlock_relay", "--batch-size", "4", "--interval", "0")  # runs until stopped
    assert len(relayed) == 2  # no row went to the executor after the signal
    assert len(rows(status="sent")) == 2 and len(rows(status="pending")) == 8
    assert [r.attempts for r in rows(status="pending")] == [0] * 8  # no attempt burnt
    captured = capsys.readouterr()
    assert "stopping after the send in progress" in captured.err
    assert "sent=2 retried=0 dead=0" in captured.out


class _Broker:
    """``send_batch`` is one round trip; ``interrupt_at``: the batch a Ctrl-C stops."""

    def __init__(self, interrupt_at: int = 0) -> None:
        self.interrupt_at = interrupt_at
        self.batches: list[list[int]] = []

    def __call__(self, intent: airlock.Intent) -> None:  # pragma: no cover - batching sends
        raise AssertionError("batching sends through send_batch")

    def send_batch(self, intents: list[airlock.Intent]) -> None:
        if len(self.batches) + 1 == self.interrupt_at:
            raise KeyboardInterrupt
        self.batches.append([i.args[0] for i in intents])


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_relay_keeps_what_went_and_sends_only_the_rest_later() -> None:
    # Forced: the second batch raises KeyboardInterrupt (a Ctrl-C, or a SIGTERM a process turns
    # into SystemExit, cannot be timed to land between two batches). Before, the relay's batch
    # transaction rolled back: the first batch's rows stayed pending and went again.
    from airlock.executors import batching

    for n in range(4):
        stored(deliver, n)
    first = _Broker(interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        Relay(executor=batching(first, size=2)).drain()
    assert first.batches == [[0, 1]]
    assert [(r.status, r.attempts) for r in rows()] == [("sent", 1)] * 2 + [("pending", 0)] * 2
    second = _Broker()
    Relay(executor=batching(second, size=10)).drain()
    assert second.batches == [[2, 3]]
    assert [r.status for r in rows()] == ["sent"] * 4
