"""The checks every queue's strict-mode suite runs, against the queue's in-process backend.

A module subclasses ``StrictSuite`` and gives a ``case`` fixture: a ``Case`` saying how to
publish to the queue directly (``bypass``, ``bypass_again``: two call sites in the module, found
by their ``# BYPASS`` comments), which executor sends it through airlock, and how many
messages left so far (``sent``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

import airlock
from airlock.exceptions import StrictModeError, StrictModeWarning


def call_sites(path: str, marker: str = "# BYPASS") -> list[tuple[str, int]]:
    """``(file, line)`` of every line of ``path`` ending with ``marker``, in order."""
    lines = Path(path).read_text().splitlines()
    return [(path, n) for n, text in enumerate(lines, 1) if text.rstrip().endswith(marker)]


@dataclass
class Case:
    bypass: Callable[[], object]  # a direct publish, at sites[0]
    bypass_again: Callable[[], object]  # the same, at sites[1]
    sites: list[tuple[str, int]]
    task: Any  # what airlock.enqueue gets
    executor: Any
    sent: Callable[[], int]  # messages that left (or ran) so far
    originals: Callable[[], list[bool]] = field(default=lambda: [])  # each: unpatched now?
    args: tuple[Any, ...] = ("x",)


def site(error: StrictModeError | warnings.WarningMessage) -> tuple[str, int]:
    return (error.filename, error.lineno)


class StrictSuite:
    def test_nothing_is_patched_while_strict_mode_is_off(self, case: Case) -> None:
        assert all(case.originals())
        airlock.configure(strict="warn")
        assert not any(case.originals())
        airlock.configure(strict="raise")  # a second switch patches nothing twice
        airlock.configure(strict=False)
        assert all(case.originals())

    def test_a_bypass_inside_a_scope_raises_at_its_call_site(self, case: Case) -> None:
        airlock.configure(strict="raise")
        before = case.sent()
        with airlock.scope(), pytest.raises(StrictModeError) as error:
            case.bypass()
        assert site(error.value) == case.sites[0]
        assert "an airlock scope is active" in str(error.value)
        assert f"{case.sites[0][0]}:{case.sites[0][1]}" in str(error.value)
        assert case.sent() == before  # nothing left

    @pytest.mark.django_db
    def test_a_bypass_inside_atomic_raises_at_its_call_site(self, case: Case) -> None:
        airlock.configure(strict="raise")
        before = case.sent()
        with transaction.atomic(), pytest.raises(StrictModeError) as error:
            case.bypass()
        assert site(error.value) == case.sites[0]
        assert "a database transaction is open" in str(error.value)
        assert case.sent() == before

    @pytest.mark.django_db
    def test_the_same_call_through_airlock_is_not_reported(self, case: Case) -> None:
        airlock.configure(strict="raise")
        before = case.sent()
        # a plain scope flushes when it exits: inside the atomic block, through the executor
        with transaction.atomic(), airlock.scope(executor=case.executor):
            airlock.enqueue(case.task, *case.args)
        assert case.sent() == before + 1

    def test_outside_any_scope_or_transaction_nothing_is_reported(self, case: Case) -> None:
        airlock.configure(strict="raise")
        before = case.sent()
        with warnings.catch_warnings():
            warnings.simplefilter("error", StrictModeWarning)
            case.bypass()
        assert case.sent() == before + 1

    def test_warn_reports_each_call_site_once_and_lets_the_call_through(self, case: Case) -> None:
        airlock.configure(strict="warn")
        before = case.sent()
        with pytest.warns(StrictModeWarning) as caught, airlock.scope():
            for _ in range(3):
                case.bypass()
            case.bypass_again()
            case.bypass_again()
        assert [site(w) for w in caught if w.category is StrictModeWarning] == case.sites[:2]
        assert case.sent() == before + 5  # "warn" only reports
