"""``message_duplicate``: a task marked apply-once received a message it had already applied.

Sent with ``sender`` = the task's name and keyword arguments ``message_id`` and ``alias`` (the
database holding the inbox row), after the duplicate's transaction ended. Receivers run in the
worker through ``send_robust``: one that raises is logged, never raised into the task.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["message_duplicate"]

message_duplicate = Signal()
