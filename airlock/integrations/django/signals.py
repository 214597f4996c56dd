"""Django signals for the fate of intents dispatched by ``DjangoScope``.

Sent with ``sender`` = the scope class, through ``send_robust``: receivers run synchronously in
the dispatching thread, and a receiver that raises is logged, never raised into the request.

- ``intent_dispatched(intent, scope)``: the executor accepted the intent.
- ``intent_failed(intent, scope, error)``: the executor raised; the others still went.
- ``intents_discarded(intents, scope)``: the scope was discarded (error, 4xx/5xx response).
- ``intent_rolled_back(intent, scope, alias)``: its savepoint or transaction rolled back.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

__all__ = ["intent_dispatched", "intent_failed", "intent_rolled_back", "intents_discarded"]

intent_dispatched = Signal()
intent_failed = Signal()
intents_discarded = Signal()
intent_rolled_back = Signal()


def send(signal: Signal, sender: type, **kwargs: Any) -> None:
    """Send ``signal`` if anyone listens; log (never raise) what a receiver raises."""
    if not signal.receivers:
        return
    for receiver, result in signal.send_robust(sender, **kwargs):
        if isinstance(result, Exception):
            logging.getLogger("airlock").error(
                "airlock: signal receiver %r failed", receiver, exc_info=result
            )
