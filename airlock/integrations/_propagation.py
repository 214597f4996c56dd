"""Trace context hooks for outgoing messages: no-ops until an instrumentation installs ``hooks``.

Executors that can carry headers call ``inject``; the outbox stores ``carrier()`` in the row and
the relay hands it back with ``restore`` and reports each relayed fate with ``relayed``. Nothing
here imports a tracing library: ``airlock.integrations.otel.instrument()`` sets ``hooks``.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, Protocol

from airlock._intent import Intent

__all__ = ["Hooks", "carrier", "hooks", "inject", "relayed", "restore"]


class Hooks(Protocol):
    """What an instrumentation provides (see ``airlock.integrations.otel``)."""

    def inject(self, intent: Intent, headers: MutableMapping[str, str]) -> None:
        """Add the trace context for sending ``intent`` to ``headers``."""

    def carrier(self) -> dict[str, str]:
        """The current trace context as text headers (stored with an outbox row)."""

    def restore(self, intent: Intent, carrier: Mapping[str, str]) -> None:
        """The relay rebuilt ``intent`` from a row that stored ``carrier``."""

    def relayed(self, intent: Intent, fate: str, detail: Any) -> None:
        """The relay settled ``intent`` (``dispatched`` or ``failed``)."""


hooks: Hooks | None = None


def inject(intent: Intent, headers: MutableMapping[str, str]) -> None:
    """Add the trace context to ``headers`` when tracing is instrumented (else nothing)."""
    if hooks is not None:
        hooks.inject(intent, headers)


def carrier() -> dict[str, str] | None:
    """The current trace context for an outbox row, or None when not instrumented."""
    return hooks.carrier() or None if hooks is not None else None


def restore(intent: Intent, stored: Any) -> None:
    """Hand a row's stored context back to the instrumentation (ignored when not a mapping)."""
    if hooks is not None and isinstance(stored, dict):
        hooks.restore(intent, {str(k): str(v) for k, v in stored.items()})


def relayed(intent: Intent, fate: str, detail: Any) -> None:
    """Report a relayed intent's fate to the instrumentation."""
    if hooks is not None:
        hooks.relayed(intent, fate, detail)
