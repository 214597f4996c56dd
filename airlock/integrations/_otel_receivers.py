"""Where ``airlock.integrations.otel`` meets third-party signals: Celery's and django-q2's publish
signals (the trace context travels in the message) and the inbox's duplicate signal.

Each ``_connect_*`` connects one receiver of the instrumentation's hooks when its library is
installed (and, for Django apps, loaded) and returns what undoes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["connect", "outbox_installed"]


def connect(hooks: Any) -> list[Callable[[], object]]:
    """Connect every receiver that can be; the callables that disconnect them."""
    found = (_connect_celery(hooks), _connect_django_q(hooks), _connect_inbox(hooks))
    return [undo for undo in found if undo is not None]


def outbox_installed() -> bool:
    """True when the Django outbox app is installed and the app registry is ready."""
    import sys

    if "django" not in sys.modules:
        return False
    from django.apps import apps

    return apps.ready and apps.is_installed("airlock.integrations.django.outbox")


def _connect_celery(hooks: Any) -> Callable[[], object] | None:
    import importlib.util

    if importlib.util.find_spec("celery") is None:
        return None
    from celery import signals

    receiver = hooks.celery_publish
    signals.before_task_publish.connect(receiver, weak=False)
    return lambda: signals.before_task_publish.disconnect(receiver)


def _connect_django_q(hooks: Any) -> Callable[[], object] | None:
    import importlib.util
    import sys

    if "django" not in sys.modules or importlib.util.find_spec("django_q") is None:
        return None
    from django.apps import apps

    if not apps.apps_ready:  # django_q.signals imports its models
        return None
    from django_q.signals import pre_enqueue

    receiver = hooks.django_q_enqueue
    pre_enqueue.connect(receiver, weak=False, dispatch_uid="airlock.otel")
    return lambda: pre_enqueue.disconnect(dispatch_uid="airlock.otel")


def _connect_inbox(hooks: Any) -> Callable[[], object] | None:
    import sys

    if "django" not in sys.modules:
        return None
    from airlock.integrations.django.inbox.signals import message_duplicate

    receiver = hooks.inbox_duplicate
    message_duplicate.connect(receiver, weak=False, dispatch_uid="airlock.otel")
    return lambda: message_duplicate.disconnect(dispatch_uid="airlock.otel")
