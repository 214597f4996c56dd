"""A command that enqueues with no scope of its own (no ``@airlock.scoped()``): the app runs
it in one. ``--fail`` raises after the work committed; ``--undo`` rolls one note back."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

import airlock
from tests.django import tasks
from tests.django.models import Note


class Command(BaseCommand):
    help = "Write notes; each one asks for a follow-up task."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("texts", nargs="+")
        parser.add_argument("--fail", action="store_true", help="raise once the notes committed")
        parser.add_argument("--undo", help="roll back the note with this text")

    def handle(self, *args: Any, texts: list[str], fail: bool, undo: str | None, **options: Any):
        for text in texts:
            try:
                with transaction.atomic():
                    Note.objects.create(text=text)
                    airlock.enqueue(tasks.record, f"shipped {text}")
                    if text == undo:
                        raise ValueError(text)
            except ValueError:
                pass
        self.stdout.write(f"ran while handling: {list(tasks.RAN)}")
        if fail:
            raise CommandError("failed after the notes committed")
