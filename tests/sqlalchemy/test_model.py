"""Random sequences of enqueues, savepoints, commits, rollbacks and the scope's end, against a
reference model of SQLAlchemyScope's rules, on a real SQLite session.

After every step, what was sent so far is what the model says; at the end each intent has the
model's fate (the autouse ``fates`` fixture also checks that it had exactly one).
"""

from __future__ import annotations

import pytest

from tests.services import require_module

require_module("sqlalchemy", "sqlalchemy")
require_module("hypothesis", "dev")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

import airlock  # noqa: E402
from airlock.integrations.sqlalchemy import SQLAlchemyScope, track  # noqa: E402
from tests.sqlalchemy.conftest import make_engine  # noqa: E402

OPS = ["enqueue", "enqueue", "execute", "begin_nested", "release", "rollback_savepoint",
       "commit", "rollback", "end_scope"]  # fmt: skip


def task(n: int) -> None:
    """Never run: the executor records."""


class Model:
    """The rules: levels[0] is the root transaction, the rest savepoints; each holds intents."""

    def __init__(self) -> None:
        self.levels: list[list[int]] | None = None  # None: no transaction
        self.scope_open = True
        self.ready: list[int] = []  # committed (or untied) and not sent: waits for the flush
        self.released_waiting: set[int] = set()
        self.sent: list[int] = []
        self.fates: dict[int, str] = {}

    def begin(self) -> None:
        if self.levels is None:
            self.levels = [[]]

    def enqueue(self, n: int) -> None:
        if self.levels is None:
            self.ready.append(n)
        else:
            self.levels[-1].append(n)

    def commit(self, intents: list[int]) -> None:
        for n in intents:
            if self.scope_open:
                self.ready.append(n)
            else:
                self.sent.append(n)
                self.fates[n] = "dispatched"

    def roll_back(self, intents: list[int]) -> None:
        for n in intents:
            self.fates[n] = "rolled_back"

    def end_scope(self) -> None:
        self.scope_open = False
        for n in sorted(self.ready):
            self.sent.append(n)
            self.fates[n] = "dispatched"
        self.ready = []


@pytest.fixture(scope="module")
def model_maker(tmp_path_factory):
    engine = make_engine("sqlite", tmp_path_factory.mktemp("model"))
    yield track(sessionmaker(engine))
    engine.dispose()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(st.sampled_from(OPS), max_size=30))
def test_random_sequences_follow_the_model(model_maker, fates, ops):
    sent: list[int] = []
    start = len(fates.events)  # the fixture spans every example of this test
    model = Model()
    scope = airlock.scope(_cls=SQLAlchemyScope, executor=lambda i: sent.append(i.args[0]))
    scope.enter()
    session = model_maker()
    count = 0
    try:
        for op in ops:
            if op == "enqueue" and model.scope_open:
                count += 1
                airlock.enqueue(task, count)
                model.enqueue(count)
            elif op == "execute":
                session.execute(select(1))
                model.begin()
            elif op == "begin_nested":
                session.begin_nested()  # autobegins the root when there is none
                model.begin()
                model.levels.append([])
            elif op in ("release", "rollback_savepoint") and session.in_nested_transaction():
                savepoint = session.get_nested_transaction()
                done = model.levels.pop()
                if op == "release":
                    savepoint.commit()
                    model.levels[-1].extend(done)
                else:
                    savepoint.rollback()
                    model.roll_back(done)
            elif op == "commit" and model.levels is not None:
                session.commit()
                model.commit(sorted(n for level in model.levels for n in level))
                model.levels = None
            elif op == "rollback" and model.levels is not None:
                session.rollback()
                model.roll_back([n for level in model.levels for n in level])
                model.levels = None
            elif op == "end_scope" and model.scope_open:
                scope.__exit__(None, None, None)
                model.end_scope()
            assert sent == model.sent, (op, ops)
        if model.scope_open:
            scope.__exit__(None, None, None)
            model.end_scope()
        session.close()  # rolls back what is still open
        if model.levels is not None:
            model.roll_back([n for level in model.levels for n in level])
        assert sent == model.sent
    finally:
        session.close()
    assert {i.args[0]: fate for fate, i, _ in fates.events[start:]} == model.fates
