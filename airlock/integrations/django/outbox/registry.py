"""The outbox task registry; it lives in ``airlock._outbox.registry`` (shared with SQLAlchemy)."""

from __future__ import annotations

from airlock._outbox.registry import *  # noqa: F403 (its names, listed once: in its __all__)
from airlock._outbox.registry import __all__ as __all__
