"""``logging_executor``: a dry run that logs what would run and runs nothing."""

from __future__ import annotations

import logging

from airlock._intent import Intent
from airlock.executors._base import describe, known_options, prepare_with
from airlock.typing import Executor

__all__ = ["logging_executor"]


class _LoggingExecutor:
    def __init__(self, logger: logging.Logger, level: int, like: Executor | None) -> None:
        self.logger = logger
        self.level = level
        self.like = like

    @property
    def known_options(self) -> frozenset[str] | None:
        """The options of the executor it stands in for (``like``); ``None`` (any) without."""
        return None if self.like is None else known_options(self.like)

    def prepare(self, intent: Intent) -> Intent:
        """With ``like``: that executor's enqueue checks (options, arguments); else none."""
        return intent if self.like is None else prepare_with(self.like, intent)

    def __call__(self, intent: Intent) -> None:
        if intent.dispatch_options:
            self.logger.log(
                self.level,
                "airlock dry run: would run %s with options %s",
                intent,
                dict(intent.dispatch_options),
            )
        else:
            self.logger.log(self.level, "airlock dry run: would run %s", intent)

    def __repr__(self) -> str:
        like = "" if self.like is None else f" like {describe(self.like)}"
        return f"<logging_executor {self.logger.name} {logging.getLevelName(self.level)}{like}>"


def logging_executor(
    logger: logging.Logger | str | None = None,
    *,
    level: int = logging.INFO,
    like: Executor | None = None,
) -> _LoggingExecutor:
    """An executor that only logs ``would run send_receipt(order_id=7)``; nothing is executed.

    ``logger`` is a ``Logger``, a logger name, or ``None`` for ``"airlock.dryrun"``.
    A dry run accepts what the real executor would: ``like=celery_executor`` makes enqueue
    check the intent as that executor's ``prepare`` does (an unknown dispatch option is an
    ``UnknownOptionError``, arguments it cannot send a ``TypeError``), sending nothing. Without
    ``like`` it stands in for any executor, so it accepts every option and logs it.
    """
    if logger is None or isinstance(logger, str):
        logger = logging.getLogger(logger or "airlock.dryrun")
    if like is not None and not callable(like):
        raise TypeError(f"logging_executor(like=...) takes an executor, got {like!r}")
    return _LoggingExecutor(logger, level, like)
