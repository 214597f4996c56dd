"""The management-command recipes of docs/django.md, as a command the tests run: its own
``@airlock.scoped()`` and dry-run scopes decide for their intents inside the command's scope."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

import airlock
from airlock.testing import capture
from tests.django.models import Note
from tests.django.tasks import record


class Command(BaseCommand):
    help = "Import notes; each one asks for a follow-up task."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("texts", nargs="+")
        parser.add_argument("--dry-run", action="store_true", help="dispatch nothing")

    def handle(self, *args: Any, texts: list[str], dry_run: bool = False, **options: Any) -> None:
        if not dry_run:
            self.run(texts)
            return
        # Dry run: DropAll drops every intent at flush, capture() shows what would have run,
        # and the transaction is rolled back so nothing is written either.
        with capture() as seen, transaction.atomic(), airlock.scope(policy=airlock.DropAll()):
            self.run(texts)
            transaction.set_rollback(True)
        for r in seen.dropped:
            self.stdout.write(f"would run: {r.intent}")

    @airlock.scoped()
    def run(self, texts: list[str]) -> None:
        for text in texts:
            with transaction.atomic():
                Note.objects.create(text=text)
                airlock.enqueue(record, f"imported {text}")
