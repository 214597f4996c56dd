"""Durable dispatch: an opt-in Django app that writes durable intents to an outbox table.

Add ``"airlock.integrations.django.outbox"`` to ``INSTALLED_APPS``, migrate, mark intents
durable (``_dispatch_options={"durable": True}`` or ``AIRLOCK["OUTBOX"]["DURABLE"]``), register
plain-function tasks with ``register``, and run ``manage.py airlock_relay``. See docs/outbox.md.
"""

from __future__ import annotations

from airlock.integrations.django.outbox.registry import register, unregister

__all__ = ["register", "unregister"]
