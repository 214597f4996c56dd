"""Executors that record what they send and fail on a chosen call: for the lifecycle tests."""

from __future__ import annotations

import airlock


class Plain:
    """An executor without ``after_flush``: each call is the send (the engine's short loop)."""

    def __init__(self, fail_on: int | None = None, error: BaseException | None = None) -> None:
        self.sent: list[str] = []
        self.calls = 0
        self.fail_on = fail_on
        self.error = error or RuntimeError("the broker refused")

    def __call__(self, intent: airlock.Intent) -> None:
        self.calls += 1
        if self.calls == self.fail_on:
            raise self.error
        self.sent.append(str(intent))


class Batched(Plain):
    """The same with ``after_flush``: fates wait until it returned."""

    def __init__(self, fail_on: int | None = None, error: BaseException | None = None) -> None:
        super().__init__(fail_on, error)
        self.after_flush_calls = 0

    def after_flush(self) -> None:
        self.after_flush_calls += 1
