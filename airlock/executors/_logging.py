"""``logging_executor``: a dry run that logs what would run and runs nothing."""

from __future__ import annotations

import logging

from airlock._intent import Intent

__all__ = ["logging_executor"]


class _LoggingExecutor:
    def __init__(self, logger: logging.Logger, level: int) -> None:
        self.logger = logger
        self.level = level

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
        return f"<logging_executor {self.logger.name} {logging.getLevelName(self.level)}>"


def logging_executor(
    logger: logging.Logger | str | None = None, *, level: int = logging.INFO
) -> _LoggingExecutor:
    """An executor that only logs ``would run send_receipt(order_id=7)``; nothing is executed.

    ``logger`` is a ``Logger``, a logger name, or ``None`` for ``"airlock.dryrun"``.
    """
    if logger is None or isinstance(logger, str):
        logger = logging.getLogger(logger or "airlock.dryrun")
    return _LoggingExecutor(logger, level)
