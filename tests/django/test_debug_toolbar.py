"""The debug-toolbar panel, through the toolbar's middleware: a request's intents and fates."""

from __future__ import annotations

import os
from typing import Any

import pytest

pytest.importorskip("debug_toolbar")

from django.db import transaction
from django.http import HttpResponse
from django.urls import include, path

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


urlpatterns = [
    path("checkout", checkout),
    path("declined", declined),
    path("__debug__/", include("debug_toolbar.urls")),
]


def run(client: Any, url: str) -> tuple[list[dict[str, str]], str, Any]:
    """GET ``url`` through the toolbar's middleware; return the panel's rows, its HTML as the
    toolbar serves it, and the stored panel."""
    from debug_toolbar.store import get_store
    from debug_toolbar.toolbar import DebugToolbar

    before = set(get_store().request_ids())
    client.get(url)
    [request_id] = set(get_store().request_ids()) - before
    query = {"request_id": request_id, "panel_id": "AirlockPanel"}
    content = client.get("/__debug__/render_panel/", query).json()["content"]
    panel = DebugToolbar.fetch(request_id, "AirlockPanel").get_panel_by_id("AirlockPanel")
    return panel.get_stats()["intents"], content, panel


@pytest.fixture(autouse=True)
def _toolbar(settings: Any) -> None:
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = True  # the toolbar shows itself only then, and to INTERNAL_IPS
    settings.INTERNAL_IPS = ["127.0.0.1"]
    settings.MIDDLEWARE = ["debug_toolbar.middleware.DebugToolbarMiddleware", *settings.MIDDLEWARE]
    settings.DEBUG_TOOLBAR_PANELS = [PANEL]
    settings.DEBUG_TOOLBAR_CONFIG = {"IS_RUNNING_TESTS": False}


@pytest.mark.django_db(transaction=True)
def test_the_panel_lists_a_checkouts_intents_and_their_fates(client: Any) -> None:
    rows, html, panel = run(client, "/checkout")
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
    for shown in ("rolled back", "dispatched", "dropped", "failed", "warehouse", "DropAll()"):
        assert shown in html, html


@pytest.mark.django_db(transaction=True)
def test_the_panel_shows_a_4xx_requests_intents_as_discarded(client: Any) -> None:
    rows, html, _ = run(client, "/declined")
    assert [(row["arguments"], row["fate"]) for row in rows] == [("'receipt'", "discarded")]
    assert "discarded" in html, html
