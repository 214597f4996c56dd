"""Django integration: transaction-aware scopes, middleware, settings and system checks.

``INSTALLED_APPS += ["airlock.integrations.django"]`` configures airlock from
``settings.AIRLOCK``; ``AirlockMiddleware`` runs each request in a ``DjangoScope``.
Python runs this file before any submodule (``.scope``, ``.outbox.relay``, ...), so the guard
below names the extra for all of them when Django is missing.
"""

from airlock.integrations._extras import require

with require("django", __name__):
    import django  # noqa: F401

from airlock.integrations.django.conf import get_executor, get_policy, get_setting
from airlock.integrations.django.middleware import AirlockMiddleware
from airlock.integrations.django.scope import DjangoScope

__all__ = ["AirlockMiddleware", "DjangoScope", "get_executor", "get_policy", "get_setting"]
