"""airlock.testing.capture, the pytest fixtures, TestCase and transaction tests, commands."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import TestCase

import airlock
from airlock.integrations.executors.sync import sync_executor
from airlock.testing import capture
from tests.django import tasks
from tests.django.models import Note
from tests.django.tasks import explode, record

transactional = pytest.mark.django_db(
    transaction=True, databases=["default", "other"], available_apps=["tests.django"]
)


def test_capture_fixture_records_each_fate_and_runs_nothing(airlock_capture, ran):
    with airlock.scope():
        airlock.enqueue(record, "sent", _dispatch_options={"queue": "mail"})
        with airlock.policy(airlock.BlockTasks("record")):
            airlock.enqueue(record, "blocked")
        assert [r.fate for r in airlock_capture] == ["pending", "pending"]
    with pytest.raises(ValueError), airlock.scope():
        airlock.enqueue(record, "discarded")
        raise ValueError
    assert ran == []  # capture() swapped the executor for one that runs nothing
    assert [(r.args[0], r.fate) for r in airlock_capture] == [
        ("sent", "dispatched"),
        ("blocked", "dropped"),
        ("discarded", "discarded"),
    ]
    sent = airlock_capture.dispatched[0]
    assert sent.task is record and sent.dispatch_options == {"queue": "mail"}
    assert str(airlock_capture.dropped[0]) == "record('blocked'): dropped by BlockTasks(['record'])"
    assert airlock_capture.fate_of(sent.intent) == "dispatched"
    assert len(airlock_capture.named("record")) == 3


def test_capture_executing_runs_and_records_failures(airlock_capture_executing, ran):
    with airlock.scope():
        airlock.enqueue(record, "ran")
        airlock.enqueue(explode, "failed")
    assert ran == ["ran"]
    [failed] = airlock_capture_executing.failed
    assert failed.name == "explode" and str(failed.detail) == "task failed exploded"


def test_capture_restores_the_executors(airlock_configuration):
    airlock_configuration(executors={"mail": sync_executor})
    with capture():
        assert airlock.get_configuration()["executors"]["mail"] is not sync_executor
    assert airlock.get_configuration()["executors"]["mail"] is sync_executor


@transactional
def test_transaction_test_sees_commits_and_rollbacks(airlock_capture_executing, ran):
    with airlock.scope(), transaction.atomic():
        Note.objects.create(text="kept")
        airlock.enqueue(record, "committed")
        try:
            with transaction.atomic():
                airlock.enqueue(record, "rolled back")
                raise ValueError
        except ValueError:
            pass
    assert ran == ["committed"]
    assert [(r.args[0], r.fate, r.detail) for r in airlock_capture_executing.rolled_back] == [
        ("rolled back", "rolled_back", "default")
    ]


class TestCaseNeverCommits(TestCase):
    """Django's TestCase wraps each test in a transaction that is rolled back, never committed."""

    def setUp(self):
        tasks.RAN.clear()

    def test_intents_wait_for_a_commit_that_never_comes(self):
        with capture(execute=True) as seen, airlock.scope():
            Note.objects.create(text="x")
            airlock.enqueue(record, "x")
        self.assertEqual(tasks.RAN, [])
        self.assertEqual([r.fate for r in seen], ["pending"])

    def test_capture_on_commit_callbacks_execute_runs_them(self):
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            with airlock.scope(executor=sync_executor):
                Note.objects.create(text="x")
                airlock.enqueue(record, "x")
                airlock.enqueue(record, "y")
            self.assertEqual(tasks.RAN, [])
        self.assertEqual(tasks.RAN, ["x", "y"])
        self.assertEqual(len(callbacks), 2)  # under TestCase: one callback per intent and alias

    def test_a_scope_that_spans_the_capture_block_still_sends_what_it_captures(self):
        # Only callbacks registered inside the block run: intents enqueued before it must not
        # share a callback with those enqueued inside, nor hold them back.
        s = airlock.scope(executor=sync_executor).enter()
        airlock.enqueue(record, "before")
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            airlock.enqueue(record, "inside")
            s.exit()
            s.flush()
            self.assertEqual(tasks.RAN, [])
        self.assertEqual(len(callbacks), 1)
        self.assertEqual(tasks.RAN, ["inside"])  # "before" waits for a commit that never comes


@transactional
def test_management_command_with_scoped_handle(ran):
    call_command("import_notes", "a", "b", stdout=StringIO())
    assert ran == ["imported a", "imported b"]
    assert Note.objects.count() == 2


@transactional
def test_management_command_dry_run_sends_and_writes_nothing(ran):
    out = StringIO()
    call_command("import_notes", "a", "b", "--dry-run", stdout=out)
    assert ran == []
    assert Note.objects.count() == 0
    assert out.getvalue().splitlines() == [
        "would run: record('imported a')",
        "would run: record('imported b')",
    ]
