"""``manage.py airlock_relay``: send committed outbox rows through the configured executor."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from airlock.integrations.django.outbox.relay import Relay


class Command(BaseCommand):
    help = (
        "Relay durable intents from the airlock outbox to the executor. Runs until SIGTERM or "
        "SIGINT (the send in progress returns first; rows not yet sent stay pending); --once "
        "drains what is ready and exits."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="drain ready rows, then exit")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help='rows per transaction (default AIRLOCK["OUTBOX"]["BATCH_SIZE"])',
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="seconds to sleep when idle (default from settings)",
        )
        parser.add_argument("--database", default=None, help="database alias of the outbox")
        parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        relay = Relay(batch_size=options["batch_size"], database=options["database"])
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def stop(signum: int, frame: FrameType | None) -> None:
            self.stderr.write(
                f"airlock_relay: signal {signum}, stopping after the send in progress "
                "(rows not yet sent stay pending)"
            )
            relay.stop.set()

        for sig in previous:
            signal.signal(sig, stop)
        bar = None
        try:
            self.stdout.write(
                f"airlock_relay: relaying from {relay.alias!r} (batch {relay.batch_size})"
            )
            if not relay.claims_rows:
                self.stderr.write(
                    f"airlock_relay: {relay.alias!r} cannot lock rows (SQLite?): run only one "
                    "relay at a time on it, or two relays will send the same rows"
                )
            bar = self._progress(relay, options["no_progress"])
            if options["once"]:
                relay.drain(bar.update if bar else None)
            else:
                relay.run(options["interval"], bar.update if bar else None)
        finally:
            if bar is not None:
                bar.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        counts = relay.counts
        self.stdout.write(
            f"airlock_relay: stopped; sent={counts.sent} retried={counts.retried} "
            f"dead={counts.dead}"
        )

    def _progress(self, relay: Relay, disabled: bool) -> Any:
        """A bar over the backlog when a human watches a big one; None otherwise."""
        if disabled or not sys.stderr.isatty():
            return None
        backlog = relay.backlog()
        if backlog <= relay.batch_size:
            return None
        try:
            from tqdm import tqdm
        except ImportError:
            return _Bar(backlog, sys.stderr.write)
        return tqdm(total=backlog, unit="row", desc="airlock_relay", file=sys.stderr)


class _Bar:
    """A dependency-free progress bar, used when tqdm is not installed."""

    def __init__(self, total: int, write: Callable[[str], Any]) -> None:
        self.total, self.done, self.write = total, 0, write

    def update(self, n: int) -> None:
        self.done += n
        filled = int(30 * min(self.done, self.total) / self.total)
        self.write(
            f"\rairlock_relay [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}"
        )

    def close(self) -> None:
        self.write("\n")
