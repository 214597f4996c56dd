"""What became of the intents a scope held: the fates the dispatch engine reports to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airlock import _events
from airlock._intent import Intent

__all__ = ["Fates"]


class Fates:
    """Keeps the terminal fate of each intent once, and reports it as an ``airlock`` event.

    The dispatch engine, the policies and the transaction hooks call ``settle``; subclasses
    extend it (``DjangoScope`` closes tickets and sends Django signals there).
    """

    _dropped: list[tuple[Intent, Any]] | None = None
    _dispatched: list[Intent] | None = None
    _failed: list[tuple[Intent, BaseException]] | None = None

    @property
    def dispatched(self) -> list[Intent]:
        """Intents handed to their executor without error."""
        return list(self._dispatched or ())

    @property
    def dropped(self) -> list[tuple[Intent, Any]]:
        """Intents removed by a policy or as a duplicate key, as ``(intent, reason)`` pairs."""
        return list(self._dropped or ())

    @property
    def failed(self) -> list[tuple[Intent, BaseException]]:
        """Intents whose executor, policy or hook raised, as ``(intent, error)`` pairs."""
        return list(self._failed or ())

    def settle(self, intent: Intent, fate: str, detail: Any) -> None:
        """Record an intent's terminal fate and report it (called once per intent)."""
        if fate == _events.DISPATCHED:
            if self._dispatched is None:
                self._dispatched = []
            self._dispatched.append(intent)
        elif fate == _events.FAILED:
            if self._failed is None:
                self._failed = []
            self._failed.append((intent, detail))
        elif fate == _events.DROPPED:
            if self._dropped is None:
                self._dropped = []
            self._dropped.append((intent, detail))
        if _events.listeners:
            _events.emit(fate, intent, self, detail)  # type: ignore[arg-type]

    def settle_all(self, intents: Sequence[Intent], fate: str, detail: Any) -> None:
        """``settle`` each intent, in order (in one step when that changes nothing)."""
        if fate == _events.DISPATCHED and type(self).settle is _settle and not _events.listeners:
            if self._dispatched is None:
                self._dispatched = list(intents)
            else:
                self._dispatched.extend(intents)
            return
        self._settle_each(intents, fate, detail)

    def _settle_each(self, intents: Sequence[Intent], fate: str, detail: Any) -> None:
        for intent in intents:
            self.settle(intent, fate, detail)


_settle = Fates.settle
