"""The SQLAlchemy outbox on SQLite and PostgreSQL: rows written with the session's transaction,
and the relay (in-process, and as ``python -m airlock.relay`` subprocesses) sending them.

Real databases and real transactions throughout; the autouse ``fates`` fixture checks that every
intent enqueued in-process ended with exactly one fate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from tests.services import require_module

require_module("sqlalchemy", "sqlalchemy")

from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

import airlock  # noqa: E402
from airlock.exceptions import UsageError  # noqa: E402
from airlock.integrations.sqlalchemy import SQLAlchemyScope, track  # noqa: E402
from airlock.integrations.sqlalchemy.outbox import Outbox, recorder  # noqa: E402
from tests.sqlalchemy.conftest import SCHEMA, make_engine, metadata, pg_url  # noqa: E402
from tests.sqlalchemy.outbox_app import deliver, log_lines  # noqa: E402

ORDERS = metadata().tables["orders"]
DURABLE = {"durable": True}
ROOT = Path(__file__).resolve().parents[2]


class Boom(Exception):
    pass


class Recorder:
    """An executor: records each intent; raises for the arguments in ``fail`` (once each, or
    always with ``always=True``)."""

    def __init__(self, *fail: object, always: bool = False) -> None:
        self.intents: list[airlock.Intent] = []
        self.fail = set(fail)
        self.always = always
        self.lock = threading.Lock()

    def __call__(self, intent: airlock.Intent) -> None:
        if intent.args[0] in self.fail:
            if not self.always:
                self.fail.discard(intent.args[0])
            raise Boom(f"refused {intent.args[0]}")
        with self.lock:
            self.intents.append(intent)

    @property
    def args(self) -> list[object]:
        return [i.args[0] for i in self.intents]


def nothing(intent: airlock.Intent) -> None:
    """An in-process executor that sends nothing (the relay is under test)."""


@pytest.fixture
def engine(db_kind, tmp_path):
    engine = make_engine(db_kind, tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture
def outbox(engine, db_kind):
    box = Outbox(
        schema=SCHEMA if db_kind == "postgres" else None, engine=engine, grace=0.0, backoff=0.0
    )
    box.table.drop(engine, checkfirst=True)
    box.create_table(engine)
    box.install()
    yield box
    recorder.uninstall()  # whichever outbox the test installed last
    recorder.forget()


@pytest.fixture
def maker(engine):
    return track(sessionmaker(engine))


def scope(executor, **kwargs):
    return airlock.scope(_cls=SQLAlchemyScope, executor=executor, **kwargs)


def rows(outbox, engine) -> list[dict]:
    with engine.connect() as connection:
        found = connection.execute(select(outbox.table).order_by(outbox.table.c.id))
        return [dict(r._mapping) for r in found]


def statuses(outbox, engine) -> list[tuple[object, str]]:
    return [(json.loads(r["payload"])["args"][0], r["status"]) for r in rows(outbox, engine)]


def stored(maker, *args, **options) -> None:
    """Commit a durable intent per argument, its process "dying" before it reports a fate: the
    rows are left for the relay, as after a crash between commit and flush."""
    with maker() as session, session.begin():
        with scope(nothing):
            for arg in args:
                session.execute(insert(ORDERS).values(note=str(arg)))
                airlock.enqueue(deliver, arg, _dispatch_options={**DURABLE, **options})
            recorder.forget()


# -- the enqueue side -----------------------------------------------------------------------
def test_a_durable_intent_is_written_in_the_session_transaction(outbox, engine, maker, fates):
    sent = Recorder()
    with maker() as session:
        with session.begin():
            with scope(sent):
                session.execute(insert(ORDERS).values(note="a"))
                airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
                airlock.enqueue(deliver, 2)  # not durable: no row
                assert rows(outbox, engine) == []  # another connection sees nothing yet
            assert sent.args == []
        assert sent.args == [1, 2]  # after the commit, in-process
    assert statuses(outbox, engine) == [(1, "sent")]
    (row,) = rows(outbox, engine)
    assert (
        row["attempts"] == 1
        and row["sent_at"] is not None
        and row["task"] == ("airlock:tests.sqlalchemy.deliver")
    )


def test_a_rollback_takes_the_row_with_it(outbox, engine, maker, fates):
    sent = Recorder()
    with scope(sent):
        with maker() as session:
            with session.begin():
                airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
                session.rollback()
    assert rows(outbox, engine) == [] and sent.args == []
    assert fates.by_arg() == {1: "rolled_back"}


def test_a_savepoint_rollback_removes_only_its_rows(outbox, engine, maker, fates):
    sent = Recorder()
    with scope(sent):
        with maker() as session, session.begin():
            airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
            try:
                with session.begin_nested():
                    airlock.enqueue(deliver, 2, _dispatch_options=DURABLE)
                    raise Boom("the savepoint rolls back")
            except Boom:
                pass
            with session.begin_nested():
                airlock.enqueue(deliver, 3, _dispatch_options=DURABLE)
    assert sent.args == [1, 3]
    assert statuses(outbox, engine) == [(1, "sent"), (3, "sent")]
    assert fates.by_arg() == {1: "dispatched", 2: "rolled_back", 3: "dispatched"}


def test_a_discarded_scope_deletes_its_rows(outbox, engine, maker, fates):
    sent = Recorder()
    with maker() as session, session.begin():
        with pytest.raises(Boom):
            with scope(sent):
                airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
                raise Boom("the request failed")
        session.execute(insert(ORDERS).values(note="kept"))
    assert rows(outbox, engine) == [] and sent.args == []
    assert fates.by_arg() == {1: "discarded"}


def test_an_executor_that_raises_leaves_the_row_to_the_relay(outbox, engine, maker, fates):
    with maker() as session, session.begin():
        with scope(Recorder(1, always=True)):
            airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
    (row,) = rows(outbox, engine)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"] == "Boom: refused 1"
    later = Recorder()
    assert outbox.relay(executor=later).drain() == 1
    assert later.args == [1] and statuses(outbox, engine) == [(1, "sent")]


def test_durable_by_setting_and_outside_a_transaction(outbox, engine, maker, fates):
    box = Outbox(schema=outbox.table.schema, engine=engine, durable=["tests.sqlalchemy.deliver"])
    box.install()  # replaces the fixture's outbox (same table)
    sent = Recorder()
    with scope(sent):
        airlock.enqueue(deliver, 1)  # no session: written with the engine, committed at once
        assert statuses(outbox, engine) == [(1, "pending")]
    assert sent.args == [1] and statuses(outbox, engine) == [(1, "sent")]


def test_an_argument_the_codec_cannot_keep_refuses_the_enqueue(outbox, engine, maker, fates):
    with maker() as session, session.begin():
        with scope(Recorder()) as current:
            with pytest.raises(TypeError, match=r"argument 0 .*object.* cannot be stored"):
                airlock.enqueue(deliver, object(), _dispatch_options=DURABLE)
            with pytest.raises(TypeError, match="Register it with"):
                airlock.enqueue(print, 1, _dispatch_options=DURABLE)
            assert current.intents == []
    assert rows(outbox, engine) == []


def test_no_engine_and_no_transaction_is_a_usage_error(outbox, engine, fates):
    Outbox(schema=outbox.table.schema).install()
    with scope(Recorder()):
        with pytest.raises(UsageError, match=r"pass Outbox\(engine=\.\.\.\)"):
            airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)


def test_bad_settings_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"Outbox\(max_attempts=\.\.\.\) must be an integer"):
        Outbox(max_attempts=0)
    with pytest.raises(ValueError, match=r"Outbox\(undecided=\.\.\.\)"):
        Outbox(undecided="later")
    with pytest.raises(TypeError, match=r"Outbox\(durable=\.\.\.\)"):
        Outbox(durable="deliver")


# -- the relay --------------------------------------------------------------------------------
def test_the_relay_sends_what_a_dead_process_committed(outbox, engine, maker, fates):
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    with maker() as session, session.begin():
        with scope(nothing):
            airlock.enqueue(
                deliver, Decimal("1.50"), note="x", _dispatch_options={**DURABLE, "eta": when}
            )
            recorder.forget()
    sent = Recorder()
    relay = outbox.relay(executor=sent)
    assert relay.backlog() == 1
    assert relay.drain() == 1
    (intent,) = sent.intents
    assert intent.args == (Decimal("1.50"),) and intent.kwargs == {"note": "x"}
    assert dict(intent.dispatch_options) == {"eta": when}
    assert relay.counts.as_dict() == {"sent": 1, "retried": 0, "dead": 0}
    assert relay.backlog() == 0 and rows(outbox, engine)[0]["status"] == "sent"


def test_a_failing_row_is_retried_then_dead_and_never_blocks_another(outbox, engine, maker, fates):
    box = Outbox(schema=outbox.table.schema, engine=engine, backoff=0.0, max_attempts=2)
    stored(maker, 1, 2, 3)
    relay = box.relay(executor=Recorder(2, always=True))
    relay.drain()
    assert statuses(outbox, engine) == [(1, "sent"), (2, "pending"), (3, "sent")]
    relay.drain()
    assert statuses(outbox, engine) == [(1, "sent"), (2, "dead"), (3, "sent")]
    dead = rows(outbox, engine)[1]
    assert dead["attempts"] == 2
    assert dead["last_error"] == "gave up after 2 attempts; last error: Boom: refused 2"
    assert relay.counts.as_dict() == {"sent": 2, "retried": 1, "dead": 1}
    assert relay.revive() == 1
    again = Recorder()
    assert box.relay(executor=again).drain() == 1 and again.args == [2]


def test_a_retry_waits_for_its_backoff(outbox, engine, maker, fates):
    box = Outbox(schema=outbox.table.schema, engine=engine, backoff=3600.0)
    stored(maker, 1)
    relay = box.relay(executor=Recorder(1))
    assert relay.drain() == 1 and relay.counts.retried == 1
    (row,) = rows(outbox, engine)
    # capped at max_backoff (600 s), with jitter down to half of it
    assert row["available_at"] > datetime.now(timezone.utc) + timedelta(minutes=4)
    assert relay.backlog() == 0 and relay.drain() == 0


def test_garbage_rows_are_dead_at_once_and_the_rest_is_sent(outbox, engine, maker, fates):
    stored(maker, 1)
    now = datetime.now(timezone.utc)
    base = {"message_id": "m", "created_at": now, "available_at": now}
    with engine.begin() as connection:
        connection.execute(
            insert(outbox.table),
            [
                {**base, "task": "airlock:tests.sqlalchemy.deliver", "payload": "{not json"},
                {**base, "task": "builtins.eval", "payload": '{"args": [], "kwargs": {}}'},
                {**base, "task": "airlock:tests.sqlalchemy.deliver", "payload": "[1]"},
            ],
        )
    stored(maker, 2)
    sent = Recorder()
    relay = outbox.relay(executor=sent)
    relay.drain()
    assert sent.args == [1, 2]
    found = rows(outbox, engine)
    assert [r["status"] for r in found] == ["sent", "dead", "dead", "dead", "sent"]
    assert "payload is not valid JSON" in found[1]["last_error"]
    assert "unknown task reference 'builtins.eval'" in found[2]["last_error"]
    assert "not a JSON object" in found[3]["last_error"]


def test_ordering_keys_go_in_order_one_failure_holding_its_key(outbox, engine, maker, fates):
    with maker() as session, session.begin():
        with scope(Recorder()):  # in-process: handed to the relay, sends nothing
            for n in (1, 2, 3):
                airlock.enqueue(deliver, n, _dispatch_options={"ordering_key": "k"})
            airlock.enqueue(deliver, 9, _dispatch_options={"ordering_key": "other"})
    assert fates.by_arg() == {1: "dispatched", 2: "dispatched", 3: "dispatched", 9: "dispatched"}
    sent = Recorder(2)
    relay = outbox.relay(executor=sent)
    relay.run_batch()
    assert sent.args == [1, 9]  # 2 failed: 3 waits behind it
    assert [s for _, s in statuses(outbox, engine)] == ["sent", "pending", "pending", "sent"]
    relay.drain()
    assert sent.args == [1, 9, 2, 3]


def ordered(maker, keys: int, per_key: int) -> None:
    """Commit ``per_key`` rows for each of ``keys`` ordering keys, interleaved: ``"k<key>-<n>"``."""
    with maker() as session, session.begin():
        with scope(nothing):  # in-process: ordered intents are handed to the relay
            for n in range(per_key):
                for key in range(keys):
                    airlock.enqueue(
                        deliver, f"k{key}-{n}", _dispatch_options={"ordering_key": f"k{key}"}
                    )


def test_a_dead_head_releases_its_key(outbox, engine, maker, fates):
    """Documented in outbox.md ("A dead row releases its key"): the SQLAlchemy relay's own claim
    query must agree with the Django one."""
    box = Outbox(schema=outbox.table.schema, engine=engine, backoff=0.0, max_attempts=2)
    ordered(maker, 1, 3)
    sent = Recorder("k0-0", always=True)
    relay = box.relay(executor=sent)
    relay.run_batch()
    assert sent.args == []  # the head failed once: its key waits for its retry
    relay.drain()  # the head fails again and is dead: the rest of its key goes
    assert sent.args == ["k0-1", "k0-2"]
    assert [s for _, s in statuses(outbox, engine)] == ["dead", "sent", "sent"]


def test_several_relays_keep_each_keys_order_while_a_head_fails_twice(
    outbox, engine, maker, db_kind, fates
):
    if db_kind == "sqlite":
        pytest.skip("SQLite: one relay at a time")
    keys, per_key = 12, 25
    ordered(maker, keys, per_key)

    class Sent:
        def __init__(self) -> None:
            self.args: list[str] = []
            self.failures = 0
            self.lock = threading.Lock()

        def __call__(self, intent: airlock.Intent) -> None:
            with self.lock:
                if intent.args[0] == "k3-0" and self.failures < 2:
                    self.failures += 1
                    raise Boom("k3-0")
                self.args.append(intent.args[0])

    sent = Sent()
    relays = [outbox.relay(executor=sent, batch_size=7) for _ in range(4)]
    threads = [threading.Thread(target=r.drain) for r in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # A relay finding nothing it can claim (the others hold the heads) stops: finish the rest.
    outbox.relay(executor=sent).drain()
    by_key: dict[str, list[int]] = {}
    for arg in sent.args:
        key, n = arg.split("-")
        by_key.setdefault(key, []).append(int(n))
    assert by_key == {f"k{k}": list(range(per_key)) for k in range(keys)}  # in order, each once
    assert sent.failures == 2
    assert all(status == "sent" for _, status in statuses(outbox, engine))


def test_stop_leaves_the_rows_not_tried_pending(outbox, engine, maker, fates):
    stored(maker, 1, 2, 3)
    relay = outbox.relay()

    def stopping(intent):
        relay.stop.set()  # as SIGTERM would, during the first send

    relay.executor = stopping
    assert relay.run_batch() == 3
    assert statuses(outbox, engine) == [(1, "sent"), (2, "pending"), (3, "pending")]
    assert [r["attempts"] for r in rows(outbox, engine)] == [1, 0, 0]


def test_an_interrupted_relay_keeps_what_went_and_sends_only_the_rest_later(
    outbox, engine, maker, fates
):
    # Forced: the second batch raises KeyboardInterrupt (a Ctrl-C cannot be timed to land
    # between two batches). Before, the relay's transaction rolled back and rows 1, 2 went again.
    from airlock.executors import batching

    class Broker:
        def __init__(self, interrupt_at: int = 0) -> None:
            self.interrupt_at, self.batches = interrupt_at, []

        def __call__(self, intent):  # pragma: no cover - batching sends through send_batch
            raise AssertionError

        def send_batch(self, intents):
            if len(self.batches) + 1 == self.interrupt_at:
                raise KeyboardInterrupt
            self.batches.append([i.args[0] for i in intents])

    stored(maker, 1, 2, 3, 4)
    first = Broker(interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        outbox.relay(executor=batching(first, size=2)).drain()
    assert first.batches == [[1, 2]]
    assert statuses(outbox, engine) == [(1, "sent"), (2, "sent"), (3, "pending"), (4, "pending")]
    assert [r["attempts"] for r in rows(outbox, engine)] == [1, 1, 0, 0]
    second = Broker()
    outbox.relay(executor=batching(second, size=10)).drain()
    assert second.batches == [[3, 4]]


def test_two_relays_never_send_a_row_twice(outbox, engine, maker, db_kind, fates):
    if db_kind == "sqlite":
        pytest.skip("SQLite: one relay at a time")
    stored(maker, *range(300))
    sent = Recorder()
    relays = [outbox.relay(executor=sent, batch_size=7) for _ in range(3)]
    assert all(r.claims_rows for r in relays)
    threads = [threading.Thread(target=r.drain) for r in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(sent.args) == list(range(300))  # each once
    assert sum(r.counts.sent for r in relays) == 300
    assert all(status == "sent" for _, status in statuses(outbox, engine))


# -- the relay process ----------------------------------------------------------------------
def relay_process(db_kind, engine, tmp_path, *extra):
    if db_kind == "postgres":
        url, schema = pg_url("psycopg"), SCHEMA
    else:
        url, schema = engine.url.render_as_string(hide_password=False), ""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AIRLOCK_OUTBOX_SCHEMA": schema,
        "AIRLOCK_OUTBOX_LOG": str(tmp_path / "log"),
        "AIRLOCK_OUTBOX_GATE": str(tmp_path / "gate"),
    }
    command = [sys.executable, "-m", "airlock.relay", "--url", url]
    command += ["--outbox", "tests.sqlalchemy.outbox_app:outbox", *extra]
    return subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_the_relay_command_drains_once(outbox, engine, maker, db_kind, tmp_path, fates):
    stored(maker, 1, 2)
    process = relay_process(db_kind, engine, tmp_path, "--once")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "sent=2 retried=0 dead=0" in out
    assert log_lines(str(tmp_path / "log")) == ["start 1", "done 1", "start 2", "done 2"]
    assert statuses(outbox, engine) == [(1, "sent"), (2, "sent")]
    assert ("run only one relay" in err) == (db_kind == "sqlite")


def test_sigterm_finishes_the_send_in_progress_and_stops(
    outbox, engine, maker, db_kind, tmp_path, fates
):
    with maker() as session, session.begin():
        with scope(nothing):
            airlock.enqueue(deliver, 1, "hold", _dispatch_options=DURABLE)
            airlock.enqueue(deliver, 2, _dispatch_options=DURABLE)
            recorder.forget()
    process = relay_process(db_kind, engine, tmp_path)
    try:
        wait_for(lambda: "start 1" in log_lines(str(tmp_path / "log")))
        process.send_signal(signal.SIGTERM)
        (tmp_path / "gate").touch()  # the send in progress may finish now
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "signal 15" in err and "sent=1" in out
    assert log_lines(str(tmp_path / "log")) == ["start 1", "done 1"]
    assert statuses(outbox, engine) == [(1, "sent"), (2, "pending")]
    assert rows(outbox, engine)[1]["attempts"] == 0


def test_the_relay_outlives_a_database_error(outbox, engine, maker, fates, caplog):
    stored(maker, 1)
    sent = Recorder()
    relay = outbox.relay(executor=sent)
    with engine.begin() as connection:  # the table is gone (a restore, a bad migration...)
        connection.execute(outbox.table.update().values(status="pending"))
    outbox.table.drop(engine)
    threading.Timer(0.3, relay.stop.set).start()
    relay.run(interval=0.05)  # each failed batch is logged, then tried again until stopped
    assert "batch failed" in caplog.text and sent.args == []
    outbox.create_table(engine)
    stored(maker, 2)
    relay.stop.clear()
    assert relay.drain() == 1 and sent.args == [2]


def test_undecided_dead_parks_rows_whose_process_died(outbox, engine, maker, fates):
    box = Outbox(schema=outbox.table.schema, engine=engine, undecided="dead")
    stored(maker, 1)  # its process never reported a fate
    with maker() as session, session.begin():
        with scope(Recorder()):  # an ordered row released by its scope is decided
            airlock.enqueue(deliver, 2, _dispatch_options={"ordering_key": "k"})
    sent = Recorder()
    box.relay(executor=sent).drain()
    assert sent.args == [2]
    assert statuses(outbox, engine) == [(1, "dead"), (2, "sent")]
    assert rows(outbox, engine)[0]["last_error"].startswith("undecided: its process ended")


def test_the_relay_command_names_what_is_wrong(outbox, engine, capsys):
    from airlock.relay import main

    with pytest.raises(SystemExit, match="not an airlock Outbox"):
        main(["--outbox", "tests.sqlalchemy.outbox_app:deliver", "--url", "sqlite://"])
    with pytest.raises(SystemExit, match="expected MODULE:ATTRIBUTE"):
        main(["--outbox", "tests.sqlalchemy.outbox_app"])
    with pytest.raises(SystemExit, match="pass --url or give the Outbox an engine"):
        main(["--once"])
