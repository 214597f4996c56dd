"""The outbox's value codec; it lives in ``airlock._outbox.codec`` (shared with SQLAlchemy)."""

from __future__ import annotations

from airlock._outbox.codec import TAG, Unsupported, decode, encode

__all__ = ["TAG", "Unsupported", "decode", "encode"]
