"""Shared fixtures for the core suite: a clean configuration and a recording executor."""

from __future__ import annotations

import pytest

import airlock
from airlock import _events


class Recorder:
    """An executor that records each intent it is handed (and can be told to fail)."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.intents: list[airlock.Intent] = []
        self.fail_on = fail_on
        self.after_flush_calls = 0

    def __call__(self, intent: airlock.Intent) -> None:
        if self.fail_on is not None and len(self.intents) + 1 == self.fail_on:
            self.fail_on = None
            raise RuntimeError(f"executor failed on {intent}")
        self.intents.append(intent)

    def after_flush(self) -> None:
        self.after_flush_calls += 1

    @property
    def calls(self) -> list[str]:
        return [str(i) for i in self.intents]


def send_email(*args: object, **kwargs: object) -> None:
    """A task; the suite never runs it (executors record instead)."""


def notify(*args: object, **kwargs: object) -> None:
    """Another task."""


@pytest.fixture(autouse=True)
def clean_state(fresh_configuration):
    """Each test starts from an empty configuration (tests/conftest.py puts the previous one
    back afterwards) and must leave no scope active and no listener subscribed."""
    listeners = _events.listeners
    yield
    assert airlock.get_current_scope() is None, "a test left a scope active"
    assert _events.listeners == listeners, "a test left an event listener subscribed"


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def events():
    """Every fate event as (event, str(intent), detail), collected while the test runs."""
    seen: list[tuple[str, str, object]] = []
    unsubscribe = _events.subscribe(lambda event, intent, scope, detail: seen.append(
        (event, str(intent), detail)))
    yield seen
    unsubscribe()
