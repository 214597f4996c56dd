"""A command that opts out of the app's command scope (``airlock_scope = False``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

import airlock
from tests.django.tasks import record


class Command(BaseCommand):
    airlock_scope = False

    def handle(self, *args: Any, **options: Any) -> None:
        airlock.enqueue(record, "unscoped")
