"""Re-exports: the lint check follows them to the definitions."""

from .dramatiq_tasks import notify as notify_actor
from .dramatiq_tasks import send_receipt

__all__ = ["notify_actor", "send_receipt"]
