"""The debug-toolbar panel: a request's intents through the real middleware, and their fates."""

from __future__ import annotations

import os
from typing import Any

import pytest

pytest.importorskip("debug_toolbar")

from django.core.handlers.base import BaseHandler
from django.db import transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import path

import airlock
from tests.django.tasks import explode, record

PANEL = "airlock.integrations.django.debug_toolbar.AirlockPanel"


def checkout(request: Any) -> HttpResponse:
    with transaction.atomic():
        airlock.enqueue(record, "receipt " + "x" * 500)
        try:
            with transaction.atomic():
                airlock.enqueue(record, "points redeemed")
                raise LookupError("not enough points")
        except LookupError:
            pass
        airlock.enqueue(record, "warehouse", _dispatch_options={"countdown": 5})
        with airlock.policy(airlock.DropAll()):
            airlock.enqueue(record, "dry run")
        airlock.enqueue(explode, "label printer")
    return HttpResponse("ok")


def declined(request: Any) -> HttpResponse:
    airlock.enqueue(record, "receipt")
    return HttpResponse("declined", status=402)


urlpatterns = [path("checkout", checkout), path("declined", declined)]


def run(url: str) -> Any:
    """Serve ``url`` through the toolbar's panel around the project's real middleware."""
    from debug_toolbar.toolbar import DebugToolbar

    handler = BaseHandler()
    handler.load_middleware()
    request = RequestFactory().get(url)
    toolbar = DebugToolbar(request, handler._middleware_chain)
    panel = toolbar.get_panel_by_id("AirlockPanel")
    response = panel.process_request(request)
    panel.generate_stats(request, response)
    return panel


@pytest.fixture(autouse=True)
def _toolbar(settings: Any) -> None:
    settings.ROOT_URLCONF = __name__
    settings.DEBUG_TOOLBAR_PANELS = [PANEL]


@pytest.mark.django_db(transaction=True)
def test_the_panel_lists_a_checkouts_intents_and_their_fates() -> None:
    panel = run("/checkout")
    rows = panel.get_stats()["intents"]
    assert [(row["arguments"][:9], row["fate"]) for row in rows] == [
        ("'receipt ", "dispatched"),
        ("'points r", "rolled back"),
        ("'warehous", "dispatched"),
        ("'dry run'", "dropped"),
        ("'label pr", "failed"),
    ]
    receipt, points, warehouse, dry_run, printer = rows
    assert dry_run["why"] == "DropAll()"  # the policy that dropped it
    assert printer["task"] == "explode"
    assert printer["why"] == "RuntimeError: task label printer exploded"
    assert receipt["task"] == "record"
    assert "..." in receipt["arguments"] and len(receipt["arguments"]) < 200
    assert warehouse["options"] == "{'countdown': 5}"
    assert points["why"] == "default"  # the database alias whose savepoint rolled back
    assert receipt["origin"].startswith(f"{os.path.relpath(__file__)}:"), receipt["origin"]
    assert "Scope(policy=" in receipt["scope"], receipt["scope"]
    assert panel.nav_subtitle == "5 intents, 2 dispatched"
    html = panel.content
    for shown in ("rolled back", "dispatched", "dropped", "failed", "warehouse", "DropAll()"):
        assert shown in html, html


@pytest.mark.django_db(transaction=True)
def test_the_panel_shows_a_4xx_requests_intents_as_discarded() -> None:
    panel = run("/declined")
    rows = panel.get_stats()["intents"]
    assert [(row["arguments"], row["fate"]) for row in rows] == [("'receipt'", "discarded")]
    assert "discarded" in panel.content
