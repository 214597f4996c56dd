"""Strict mode in Django requests: ``ATOMIC_REQUESTS`` (no airlock middleware: the request's
transaction alone makes a direct publish a bypass) and ``AirlockMiddleware`` (its scope)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path

pytest.importorskip("huey")

from huey import MemoryHuey

import airlock
from airlock.exceptions import StrictModeError
from tests.strict.suite import call_sites, site

huey = MemoryHuey("airlock-strict-requests", utc=True)


@huey.task()
def record(label: str) -> None:
    pass


def bypass(request: HttpRequest) -> JsonResponse:
    record("from a view")  # VIEW BYPASS
    return JsonResponse({})


urlpatterns = [path("bypass/", bypass)]


@pytest.fixture
def urls(settings):
    settings.ROOT_URLCONF = __name__
    huey.flush()


@pytest.fixture
def atomic_requests():
    connection.settings_dict["ATOMIC_REQUESTS"] = True
    yield
    connection.settings_dict["ATOMIC_REQUESTS"] = False


@pytest.mark.django_db
def test_atomic_requests_alone_makes_a_direct_publish_a_bypass(
    client, settings, urls, atomic_requests
):
    settings.MIDDLEWARE = []
    airlock.configure(strict="raise")
    with pytest.raises(StrictModeError, match="a database transaction is open") as error:
        client.get("/bypass/")
    assert site(error.value) == call_sites(__file__, "# VIEW BYPASS")[0]
    assert huey.pending_count() == 0


@pytest.mark.django_db
def test_without_a_transaction_or_the_middleware_it_passes(client, settings, urls):
    settings.MIDDLEWARE = []
    airlock.configure(strict="raise")
    assert client.get("/bypass/").status_code == 200
    assert huey.pending_count() == 1


@pytest.mark.django_db
def test_the_middlewares_scope_makes_it_a_bypass(client, urls):
    airlock.configure(strict="raise")
    with pytest.raises(StrictModeError, match="an airlock scope is active") as error:
        client.get("/bypass/")
    assert site(error.value) == call_sites(__file__, "# VIEW BYPASS")[0]
