"""Child process of the crash test: commit orders with durable intents, roll a second batch
back, then die by SIGKILL while the scope is still open (it never decides, nothing is sent).

Usage: python -m integrations.outbox.crash COMMITTED ROLLED_BACK
"""

from __future__ import annotations

import os
import signal
import sys

import django

django.setup()

from django.db import transaction  # noqa: E402

import airlock  # noqa: E402
from integrations.common.models import Note  # noqa: E402
from integrations.outbox.worker_app import record_delivery  # noqa: E402

DURABLE = {"durable": True}


def main(committed: int, rolled_back: int) -> None:
    with airlock.scope():
        with transaction.atomic():
            for n in range(committed):
                order = Note.objects.create(text=f"order {n}")
                airlock.enqueue(record_delivery, order.pk, _dispatch_options=DURABLE)
        try:
            with transaction.atomic():
                for n in range(rolled_back):
                    order = Note.objects.create(text=f"rolled back {n}")
                    airlock.enqueue(record_delivery, order.pk, _dispatch_options=DURABLE)
                raise RuntimeError("the second batch rolls back")
        except RuntimeError:
            pass
        print("committed; dying before the scope decides", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
