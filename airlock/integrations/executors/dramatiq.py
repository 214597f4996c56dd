"""``dramatiq_executor``: send each intent to its actor's broker, like ``send_with_options``.

Dispatch options are dramatiq's message options (``max_retries``, ``time_limit``, ``on_success``,
...) plus ``delay`` (milliseconds or a timedelta), ``eta`` (an absolute datetime) and
``queue_name`` (send to another queue than the actor's). The intent's ``key`` (else its ``id``)
becomes the ``message_id``. A plain function runs synchronously (documented fallback).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from airlock.integrations._extras import require

with require("dramatiq", __name__):
    import dramatiq
    from dramatiq import Message

from airlock._intent import Intent
from airlock.integrations.executors._queues import (
    check_arguments,
    options_with,
    to_datetime,
    to_timedelta,
)
from airlock.integrations.executors.sync import sync_executor

__all__ = ["DramatiqExecutor", "dramatiq_executor"]


def _eta_ms(eta: datetime) -> int:
    return int(eta.timestamp() * 1000)


class DramatiqExecutor:
    """Sends intents for dramatiq actors; ``prepare`` validates and fixes times at enqueue.

    ``prepare(intent)``: arguments dramatiq's encoder (JSON by default) rejects raise
    ``TypeError`` naming the argument; ``delay`` becomes an absolute ``eta``, so a late flush
    does not push the schedule back. At dispatch the remaining delay is what is left until ``eta``.
    """

    def __call__(self, intent: Intent) -> None:
        actor = intent.task
        if not isinstance(actor, dramatiq.Actor):
            sync_executor(intent)
            return
        message, delay = self.message(intent)
        actor.broker.enqueue(message, delay=delay)

    def message(self, intent: Intent) -> tuple[Message[Any], int | None]:
        """The message for an intent of an actor, and its delay in ms (what ``__call__`` sends)."""
        actor = intent.task
        options = dict(intent.dispatch_options)
        eta = options.pop("eta", None)
        if "delay" in options:  # an intent that skipped prepare()
            eta = _absolute(options.pop("delay"), eta)
        queue_name = options.pop("queue_name", None) or actor.queue_name
        message_id = str(options.pop("message_id", None) or intent.key or intent.id)
        message = actor.message_with_options(args=intent.args, kwargs=intent.kwargs, **options)
        message = Message(
            queue_name=queue_name,
            actor_name=message.actor_name,
            args=message.args,
            kwargs=message.kwargs,
            options=message.options,
            message_id=message_id,
        )
        delay = None
        if eta is not None:
            delay = max(0, _eta_ms(to_datetime(eta, "eta")) - int(time.time() * 1000))
        return message, delay or None

    def prepare(self, intent: Intent) -> Intent:
        if not isinstance(intent.task, dramatiq.Actor):
            return intent
        check_arguments(intent, dramatiq.get_encoder().encode, "dramatiq's message encoder")
        options = intent.dispatch_options
        if "delay" in options:
            eta = _absolute(options["delay"], options.get("eta"))
            return options_with(intent, delay=None, eta=eta)
        return intent

    def __repr__(self) -> str:
        return "dramatiq_executor"


def _absolute(delay: Any, eta: Any) -> datetime | None:
    if eta is not None and delay is not None:
        raise ValueError("dramatiq dispatch options have both 'delay' and 'eta'; give one of them")
    if delay is None:
        return eta  # type: ignore[no-any-return]
    return datetime.now(timezone.utc) + to_timedelta(delay, 0.001, "delay")


dramatiq_executor = DramatiqExecutor()
"""The dramatiq executor to configure: ``AIRLOCK = {"EXECUTOR": "...dramatiq_executor"}``."""


def __getattr__(name: str) -> Any:
    # Opt-in batched variant (one Redis transaction per flush): ``dramatiq_batch_executor`` and
    # ``DramatiqBatchExecutor`` live in _batch_dramatiq, imported on first use (it imports us).
    if name in ("dramatiq_batch_executor", "DramatiqBatchExecutor"):
        from airlock.integrations.executors import _batch_dramatiq

        return getattr(_batch_dramatiq, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
