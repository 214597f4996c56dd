"""Views of the Celery end-to-end suite; each runs inside AirlockMiddleware's scope."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, JsonResponse

import airlock
from integrations.celery.worker_app import (
    RECORDER,
    SPECIAL_QUEUE,
    app,
    bypass_in_body,
    bypass_unscoped,
    flaky,
    record,
    record_note,
    spawn,
)
from integrations.common.models import Note


def worker_ran_so_far(tag: str) -> list[str]:
    """Publish a sentinel straight to the broker and wait until the worker ran it.

    The worker takes messages in order, one at a time: anything airlock had already published
    would have run before the sentinel. So what it ran so far is everything that left.
    """
    app.send_task("e2e.record", args=(tag,))
    RECORDER.wait_for(tag)
    return RECORDER.labels()


def order(request: HttpRequest) -> JsonResponse:
    """Write a Note and enqueue two tasks in atomic; ?outcome=commit|rollback|error."""
    outcome = request.GET.get("outcome", "commit")
    with transaction.atomic():
        note = Note.objects.create(text="order 7")
        airlock.enqueue(record_note, "note", note.pk)
        mail = airlock.enqueue(record, "mail", 7, to="ann@example.com", _key=f"mail-{note.pk}")
        ran_inside = worker_ran_so_far("sentinel-inside-atomic")
        if outcome == "rollback":
            transaction.set_rollback(True)
        elif outcome == "error":
            raise RuntimeError("the view fails: the request's intents are discarded")
    return JsonResponse({"note": note.pk, "mail_id": mail.key, "ran_inside": ran_inside})


def options(request: HttpRequest) -> JsonResponse:
    """A task for the special queue, one for the default queue, one with a countdown."""
    with transaction.atomic():
        airlock.enqueue(record, "special", _dispatch_options={"queue": SPECIAL_QUEUE})
        airlock.enqueue(record, "default")
        later = airlock.enqueue(record, "later", _dispatch_options={"countdown": 3})
    return JsonResponse({"eta": later.dispatch_options["eta"].timestamp()})


def spawns(request: HttpRequest) -> JsonResponse:
    """Two tasks that enqueue follow-ups: the first fails, the second succeeds; one retries.

    ``?via=<name>``: the worker's named executor for the follow-ups.
    """
    via = {"via": request.GET["via"]} if "via" in request.GET else {}
    with transaction.atomic():
        airlock.enqueue(spawn, "bad", True, **via)
        airlock.enqueue(spawn, "good", False, **via)
        if request.GET.get("retry"):
            airlock.enqueue(flaky, "retried", **via)
    return JsonResponse({})


def legacy(request: HttpRequest) -> JsonResponse:
    """Old code calling .delay() in atomic (the migration intercept must be installed)."""
    with transaction.atomic():
        result = record.delay("legacy", 1, via="delay")
        ran_inside = worker_ran_so_far("sentinel-legacy")
    return JsonResponse({"task_id": result.id, "ran_inside": ran_inside})


def strict_bypass(request: HttpRequest) -> JsonResponse:
    """Strict mode: a direct ``.delay()`` inside the request's ``atomic`` (reported)."""
    with transaction.atomic():
        Note.objects.create(text="bypass")
        record.delay("bypass")  # STRICT BYPASS
    return JsonResponse({})


def strict_enqueue(request: HttpRequest) -> JsonResponse:
    """Strict mode: the same call through ``airlock.enqueue`` (not reported), and tasks whose
    bodies bypass airlock in the worker, with and without a scope."""
    with transaction.atomic():
        Note.objects.create(text="enqueue")
        airlock.enqueue(record, "through-airlock")
        airlock.enqueue(bypass_in_body, "scoped")
        airlock.enqueue(bypass_unscoped, "unscoped")
    return JsonResponse({})
