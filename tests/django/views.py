"""Views the middleware tests call."""

from __future__ import annotations

import threading

from django.http import HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse

import airlock
from tests.django.models import Note
from tests.django.tasks import explode, record

BARRIER = threading.Barrier(2, timeout=20)


def status(request, code):
    airlock.enqueue(record, f"status {code}")
    if code in (301, 302):
        return HttpResponseRedirect("/elsewhere")
    return HttpResponse(status=code)


def boom(request):
    airlock.enqueue(record, "boom")
    raise ValueError("the view failed")


async def async_view(request):
    airlock.enqueue(record, "async")
    return JsonResponse({"scope": type(request.airlock_scope).__name__})


def scope_info(request):
    return JsonResponse({"scope": type(request.airlock_scope).__name__})


def write_then_raise(request):
    Note.objects.create(text="from the view")
    airlock.enqueue(record, "atomic request")
    if request.GET.get("fail"):
        raise ValueError("after the write")
    return HttpResponse("ok")


def failing_in_the_middle(request):
    Note.objects.create(text="committed")
    airlock.enqueue(record, "first")
    airlock.enqueue(explode, "middle")
    airlock.enqueue(record, "last")
    return HttpResponse("ok")


def streaming(request):
    airlock.enqueue(record, "before the body")

    def body():
        yield b"one "
        airlock.enqueue(record, "while streaming")
        yield b"two"

    return StreamingHttpResponse(body())


def concurrent(request, tag):
    airlock.enqueue(record, f"{tag}-1")
    BARRIER.wait()  # both requests are inside their scopes at the same time
    airlock.enqueue(record, f"{tag}-2")
    return JsonResponse({"intents": [i.args[0] for i in request.airlock_scope.intents]})


async def async_streaming(request):
    airlock.enqueue(record, "before the async body")

    async def body():
        yield b"one "
        airlock.enqueue(record, "while streaming async")
        yield b"two"

    return StreamingHttpResponse(body())
