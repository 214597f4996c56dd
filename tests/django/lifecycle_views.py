"""Views (and their URLconf) for tests/django/test_middleware_lifecycle.py."""

from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

import airlock
from airlock.executors import logging_executor
from tests.django.models import Note
from tests.django.tasks import record


class BrokenPolicy:
    """A policy whose ``allows`` raises for the intent labelled "middle"."""

    def on_enqueue(self, intent):
        pass

    def allows(self, intent):
        if intent.args == ("middle",):
            raise ValueError("policy bug")
        return True

    def __repr__(self):
        return "BrokenPolicy()"


def commit_then_enqueue(request):
    Note.objects.create(text="committed")
    airlock.enqueue(record, "first")
    airlock.enqueue(record, "middle")
    airlock.enqueue(record, "last")
    return HttpResponse("ok")


def local_policy(request):
    Note.objects.create(text="committed")
    airlock.enqueue(record, "first")
    with airlock.policy(BrokenPolicy()):
        airlock.enqueue(record, "middle")
    airlock.enqueue(record, "last")
    return HttpResponse("ok")


def dry_run(request):
    airlock.enqueue(record, "real")
    with airlock.scope(executor=logging_executor()):
        airlock.enqueue(record, "dry")
    return HttpResponse("ok")


def stream(request):
    airlock.enqueue(record, "one")
    airlock.enqueue(record, "two")
    return StreamingHttpResponse(iter([b"a", b"b"]))


urlpatterns = [
    path("commit-then-enqueue", commit_then_enqueue),
    path("local-policy", local_policy),
    path("dry-run", dry_run),
    path("stream", stream),
]
