"""AIRLOCK["OUTSIDE_SCOPE"]: what enqueue does with no active scope, on the suite's database."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

import airlock
from airlock.exceptions import NoScopeError
from airlock.testing import capture
from tests.django.models import Note
from tests.django.tasks import explode, record

transactional = pytest.mark.django_db(
    transaction=True, databases=["default", "other"], available_apps=["tests.django"]
)


@transactional
def test_raise_is_the_default(ran):
    with transaction.atomic(), pytest.raises(NoScopeError, match="OUTSIDE_SCOPE"):
        airlock.enqueue(record, "x")
    assert airlock.get_configuration()["outside_scope"] == "raise"


@transactional
def test_on_commit_waits_for_the_transaction_like_transaction_on_commit(settings, ran):
    settings.AIRLOCK = {"OUTSIDE_SCOPE": "on_commit"}
    with capture(execute=True) as seen:
        with transaction.atomic():
            Note.objects.create(text="x")
            airlock.enqueue(record, "committed")
            assert ran == []
        assert ran == ["committed"]
        try:
            with transaction.atomic():
                airlock.enqueue(record, "rolled back")
                raise ValueError
        except ValueError:
            pass
        airlock.enqueue(record, "no transaction")
        assert ran == ["committed", "no transaction"]
    assert [(r.args[0], r.fate) for r in seen] == [
        ("committed", "dispatched"),
        ("rolled back", "rolled_back"),
        ("no transaction", "dispatched"),
    ]


@transactional
def test_on_commit_failures_are_isolated_and_logged(settings, ran, caplog):
    settings.AIRLOCK = {"OUTSIDE_SCOPE": "on_commit"}
    with caplog.at_level(logging.ERROR, logger="airlock"):
        with transaction.atomic():
            airlock.enqueue(explode, "boom")
            airlock.enqueue(record, "still sent")
    assert ran == ["still sent"]
    assert "airlock: dispatching <Intent explode('boom')" in caplog.text


@transactional
def test_a_scope_still_decides_when_there_is_one(settings, ran):
    settings.AIRLOCK = {"OUTSIDE_SCOPE": "on_commit"}
    with pytest.raises(RuntimeError), airlock.scope():
        airlock.enqueue(record, "discarded with its scope")
        raise RuntimeError
    assert ran == []
