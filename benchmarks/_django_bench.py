"""Helpers shared by the Django benchmarks: minimal settings, the timed transaction loops, a view.

Import as ``benchmarks._django_bench`` with the repository root on ``sys.path`` and the
``benchmarks/`` folder off it (``benchmarks/django.py`` would shadow Django). Django must be set
up (``configure()``, or ``DJANGO_SETTINGS_MODULE`` and ``django.setup()``) before the loops run.
The loops return CPU seconds of this thread (``time.thread_time``): the machine is shared.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path

import airlock

clock = time.thread_time
ScopeFactory = Callable[[], AbstractContextManager[Any]]


def task(i: object) -> None:
    """The task both sides run: a no-op taking one argument."""


def configure(middleware: list[str] | None = None) -> None:
    """Set up Django in this process: SQLite in memory, ``airlock.integrations.django`` installed
    (so ``airlock.scope()`` makes a ``DjangoScope`` on the default ``sync_executor``), this module
    as the URLconf, and ``middleware`` (none by default)."""
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="airlock-benchmarks-not-secret",
        ALLOWED_HOSTS=["*"],
        USE_TZ=True,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        INSTALLED_APPS=["airlock.integrations.django"],
        MIDDLEWARE=middleware or [],
        ROOT_URLCONF=__name__,
    )
    django.setup()


def raw_on_commit(per_tx: int, transactions: int) -> float:
    """``transactions`` atomic blocks, each with one ``on_commit(partial(task, i))`` per intent."""
    from django.db import transaction

    on_commit, partial, atomic = transaction.on_commit, functools.partial, transaction.atomic
    start = clock()
    for _ in range(transactions):
        with atomic():
            for i in range(per_tx):
                on_commit(partial(task, i))
    return clock() - start


def scope_around(per_tx: int, transactions: int, scope: ScopeFactory) -> float:
    """One scope (a request, a command) around the transactions, ``enqueue(task, i)`` in each."""
    from django.db import transaction

    enqueue, atomic = airlock.enqueue, transaction.atomic
    start = clock()
    with scope():
        for _ in range(transactions):
            with atomic():
                for i in range(per_tx):
                    enqueue(task, i)
    return clock() - start


def scope_per_transaction(per_tx: int, transactions: int, scope: ScopeFactory) -> float:
    """A scope around each transaction: the scope's own cost is paid every time."""
    from django.db import transaction

    enqueue, atomic = airlock.enqueue, transaction.atomic
    start = clock()
    for _ in range(transactions):
        with scope(), atomic():
            for i in range(per_tx):
                enqueue(task, i)
    return clock() - start


def trivial_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [path("trivial", trivial_view)]
