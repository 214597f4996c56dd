"""The executor the shop's settings point at: the chosen backend, retried on failure.

``SHOP_EXECUTOR`` picks the backend: ``sync`` runs tasks in this process, ``celery`` and
``huey`` send them to a worker through Redis. ``with_retry`` re-runs a failed dispatch: around
``sync_executor`` that re-runs the task body (our tasks are safe to repeat); around a queue
executor it retries the *send* when the broker is briefly unreachable.
"""

from __future__ import annotations

from django.conf import settings

from airlock.executors import with_retry
from airlock.typing import Executor


def _backend(name: str) -> Executor:
    if name == "celery":
        from airlock.integrations.executors.celery import celery_executor

        return celery_executor
    if name == "huey":
        from airlock.integrations.executors.huey import huey_executor

        return huey_executor
    from airlock.integrations.executors.sync import sync_executor

    return sync_executor


executor = with_retry(_backend(settings.SHOP_EXECUTOR), attempts=3, backoff=0.05)
