"""Admin: filter rows, retry dead ones (the relay then sends them), purge sent ones."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from airlock.integrations.django.outbox.models import OutboxMessage
from airlock.integrations.django.outbox.relay import Relay
from tests.outbox.conftest import delivered, failures, flaky, rows, stored

pytestmark = pytest.mark.django_db

URL = "admin:airlock_outbox_outboxmessage_changelist"


@pytest.fixture
def staff(settings: Any) -> Client:
    settings.ROOT_URLCONF = "tests.outbox.urls"
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


def test_the_retry_action_revives_dead_rows_and_the_relay_sends_them(staff: Client) -> None:
    failures["flaky"] = 3  # exactly MAX_ATTEMPTS failures
    stored(flaky, 1)
    for _ in range(3):
        Relay().drain()
    (row,) = rows()
    assert row.status == "dead"
    response = staff.post(reverse(URL), {"action": "retry_dead", "_selected_action": [row.pk]})
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 0)
    assert "retried from the admin by admin after: gave up after 3 attempts" in row.last_error
    assert Relay().drain() == 1
    assert delivered == [(1, "flaky")]


def test_the_purge_action_deletes_only_sent_rows(staff: Client) -> None:
    stored(flaky, 1)
    Relay().drain()
    stored(flaky, 2)
    pks = [r.pk for r in rows()]
    staff.post(reverse(URL), {"action": "purge_sent", "_selected_action": pks})
    assert [r.status for r in rows()] == ["pending"]


def test_the_list_filters_by_status_task_and_age(staff: Client) -> None:
    stored(flaky, 1)
    stored(flaky, 2)
    old = rows()[0]
    OutboxMessage.objects.filter(pk=old.pk).update(
        status="dead", created_at=timezone.now() - dt.timedelta(days=2)
    )
    page = staff.get(reverse(URL), {"status__exact": "dead"})
    assert page.status_code == 200 and list(page.context["cl"].result_list) == [old]
    page = staff.get(reverse(URL), {"age": "1d"})
    assert list(page.context["cl"].result_list) == [old]
    page = staff.get(reverse(URL), {"task": "airlock:tests.flaky"})
    assert len(page.context["cl"].result_list) == 2
