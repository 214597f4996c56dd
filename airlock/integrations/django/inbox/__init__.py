"""The inbox: an opt-in Django app that makes a task apply each message once.

Add ``"airlock.integrations.django.inbox"`` to ``INSTALLED_APPS``, migrate, and mark a task
with its queue's decorator (``celery_apply_once``, ``dramatiq_apply_once``, ``huey_apply_once``,
``django_q_apply_once``, ``django_tasks_apply_once``, or ``apply_once`` for any other). The
worker then records the message id in the inbox table in the same transaction as the task's own
writes; a redelivery does nothing. Prune old rows with ``manage.py airlock_inbox_prune``.
See docs/outbox.md.
"""

from __future__ import annotations

from airlock.integrations.django.inbox import fronts
from airlock.integrations.django.inbox.core import Outcome, run_once
from airlock.integrations.django.inbox.fronts import *  # noqa: F403 (the decorators, as listed there)

__all__ = ["Outcome", "run_once"]
__all__ += fronts.__all__
