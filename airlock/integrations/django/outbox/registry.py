"""The outbox task registry; it lives in ``airlock._outbox.registry`` (shared with SQLAlchemy)."""

from __future__ import annotations

from airlock._outbox.registry import (
    UnknownTask,
    load,
    name_of,
    reference_for,
    register,
    registered,
    resolve,
    unregister,
    use_celery_app,
)

__all__ = [
    "UnknownTask",
    "load",
    "name_of",
    "reference_for",
    "register",
    "registered",
    "resolve",
    "unregister",
    "use_celery_app",
]
