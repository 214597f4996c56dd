"""``manage.py airlock_inbox_prune``: delete inbox rows older than the retention."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from airlock.integrations.django.inbox import conf
from airlock.integrations.django.inbox.prune import aliases, prune


class Command(BaseCommand):
    help = (
        'Delete inbox rows processed more than AIRLOCK["INBOX"]["RETENTION_DAYS"] days ago '
        "(a message redelivered after its row is gone applies again). Run it daily, e.g. "
        "from cron."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=float, default=None, help="keep this many days (default: the setting)"
        )
        parser.add_argument(
            "--database",
            action="append",
            default=None,
            help="alias to prune (repeatable; default: every database holding the inbox table)",
        )
        parser.add_argument("--batch-size", type=int, default=5000, help="rows per DELETE")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if days is None:
            days = conf.settings().retention_days
        if not days > 0:
            raise CommandError(f"--days must be > 0, got {days}")
        if options["batch_size"] < 1:
            raise CommandError(f"--batch-size must be >= 1, got {options['batch_size']}")
        targets = options["database"] or aliases()
        for alias in targets:
            if alias not in connections.settings:
                known = ", ".join(connections.settings)
                raise CommandError(f"{alias!r} is not a database alias; known aliases: {known}")
        for alias in targets:
            count = prune(alias, days, batch_size=options["batch_size"])
            self.stdout.write(
                f"airlock_inbox_prune: {alias!r}: deleted {count} row(s) older than {days:g} days"
            )
