"""Django integration: transaction-aware scopes, middleware, settings and system checks.

``INSTALLED_APPS += ["airlock.integrations.django"]`` configures airlock from
``settings.AIRLOCK``; ``AirlockMiddleware`` runs each request in a ``DjangoScope``.
"""

try:
    import django  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without Django
    from airlock.integrations.executors._queues import missing_extra

    raise missing_extra("Django integration", "django", exc) from exc

from airlock.integrations.django.conf import get_executor, get_policy, get_setting
from airlock.integrations.django.middleware import AirlockMiddleware
from airlock.integrations.django.scope import DjangoScope

__all__ = ["AirlockMiddleware", "DjangoScope", "get_executor", "get_policy", "get_setting"]
