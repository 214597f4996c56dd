"""``manage.py demo``: a narrated tour of what airlock does in this shop, case by case.

Each case makes a real request through the middleware stack (Django's test client, in this
process) or runs a real management command, then prints every intent with its fate, as
recorded by ``shop.journal`` from airlock's fate events. A summary table closes the tour.
"""

from __future__ import annotations

import io
import logging
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import connection
from django.db.utils import OperationalError
from django.test import Client

from shop import journal, services, warehouse
from shop.models import Effect, Order, Product

WIDTH = 96
FATES = ["dropped", "rolled back", "discarded", "dispatched", "failed"]
LEGEND = (
    "buffered: enqueued; dropped: refused by a policy; rolled back: its transaction or savepoint "
    "rolled back; discarded: the request failed (4xx, 5xx, exception); dispatched: handed to "
    "the executor; failed: the executor raised"
)


@dataclass
class Case:
    title: str
    short: str
    story: str
    run: Callable[[Client], tuple[journal.Record, list[str]]]


def _checkout(client: Client, customer: str, product: str, **fields: Any) -> journal.Record:
    data = {
        "customer": customer,
        "product": Product.objects.get(name=product).pk,
        "quantity": 1,
        "card": "4242 4242 4242 4242",
        "points": 0,
        "ship_now": "on",
        **fields,
    }
    client.post("/checkout/", data)
    return journal.recent()[0]


def _order_note(customer: str) -> str:
    """Which order a case made: each case has a customer of its own, because SQLite gives the
    id of a rolled-back order to the next one (cases 3 and 4 both get order #3)."""
    order = Order.objects.filter(customer=customer).first()
    if order is None:
        return f"{customer}'s order: rolled back (SQLite gives its id to the next order)"
    return f"{customer}'s order: #{order.pk}, {order.status}, {order.points_used} points used"


def checkout(client: Client) -> tuple[journal.Record, list[str]]:
    return _checkout(client, "ada@example.com", "Teapot"), [_order_note("ada@example.com")]


def declined(client: Client) -> tuple[journal.Record, list[str]]:
    record = _checkout(client, "bob@example.com", "Teapot", card=services.DECLINED_CARD)
    return record, [_order_note("bob@example.com")]


def raises(client: Client) -> tuple[journal.Record, list[str]]:
    return _checkout(client, "cy@example.com", "Anvil"), [_order_note("cy@example.com")]


def savepoint(client: Client) -> tuple[journal.Record, list[str]]:
    record = _checkout(client, "dee@example.com", "Tea (250 g)", points=500)
    return record, [_order_note("dee@example.com")]


def bulk(client: Client) -> tuple[journal.Record, list[str]]:
    teapot = Product.objects.get(name="Teapot")
    # bulk_create sends no post_save signal: three placed orders, no intents yet
    Order.objects.bulk_create(
        Order(customer=f"customer{n}@example.com", product=teapot) for n in (1, 2, 3)
    )
    out = io.StringIO()
    with journal.record("manage.py ship_orders --silent") as record:
        call_command("ship_orders", silent=True, stdout=out)
    shipped = Order.objects.filter(status=Order.SHIPPED).count()
    return record, [f"command said: {out.getvalue().strip()}", f"orders now shipped: {shipped}"]


def retried(client: Client) -> tuple[journal.Record, list[str]]:
    return _outage(client, "eve@example.com", failures=2)


def gives_up(client: Client) -> tuple[journal.Record, list[str]]:
    return _outage(client, "fay@example.com", failures=3)


def _outage(client: Client, customer: str, failures: int) -> tuple[journal.Record, list[str]]:
    from airlock.integrations.django.signals import intent_failed

    since = len(warehouse.calls)
    failed: list[str] = []

    def on_failed(sender: Any, intent: Any, error: BaseException, **kwargs: Any) -> None:
        failed.append(str(intent))

    intent_failed.connect(on_failed)
    try:
        with warehouse.outage(failures), _capture_logs("airlock") as logged:
            record = _checkout(client, customer, "Teapot")
    finally:
        intent_failed.disconnect(on_failed)
    outcomes = [outcome for _, outcome in warehouse.calls[since:]]
    notes = [_order_note(customer), f"warehouse API calls: {', '.join(outcomes)}"]
    retries = sum(1 for level, _ in logged if level == "WARNING")
    notes.append(f"with_retry logged {retries} retries as warnings")
    if failed:
        notes.append(f"gave up: airlock logged an error and sent intent_failed for {failed[0]}")
    return record, notes


CASES = [
    Case(
        "A successful checkout",
        "checkout",
        "A post_save handler enqueues an analytics event; Order.ship() enqueues the receipt mail "
        "and the warehouse call. The transaction commits and the response is a redirect, so all "
        "three are dispatched, after the commit.",
        checkout,
    ),
    Case(
        "A declined card (a 4xx response)",
        "declined card (402)",
        "The order is saved as declined and the view answers 402. AirlockMiddleware discards "
        "what the request enqueued: no analytics event for an order that did not happen.",
        declined,
    ),
    Case(
        "A view that raises",
        "view raises (500)",
        "An anvil cannot get a parcel label: print_label() raises after Order.ship() enqueued "
        "its work. The transaction rolls back, the request fails with a 500, nothing is sent.",
        raises,
    ),
    Case(
        "An inner savepoint that rolls back",
        "savepoint rolls back",
        "The customer asks for 500 loyalty points. redeem_points() enqueues an event, then is "
        "refused inside its own savepoint: only that intent goes with the savepoint; the order "
        "is placed and shipped.",
        savepoint,
    ),
    Case(
        "A bulk command under DropAll",
        "bulk command, DropAll",
        "manage.py ship_orders --silent ships three placed orders under the DropAll policy: the "
        "same Order.ship() code runs and enqueues, and the policy drops every intent at flush.",
        bulk,
    ),
    Case(
        "A task that fails and is retried",
        "task retried",
        "The warehouse API times out twice. The executor in settings is "
        "{executor}, so the third attempt books the pickup.",
        retried,
    ),
    Case(
        "A task that keeps failing",
        "task keeps failing",
        "The warehouse stays down: with_retry gives up after three attempts. The failure is "
        "logged and signalled; it does not touch the other intents or the response.",
        gives_up,
    ),
]


def _fit(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 3] + "..."


@contextmanager
def _capture_logs(name: str) -> Iterator[list[tuple[str, str]]]:
    """Collect ``(level, message)`` of logger ``name`` instead of printing tracebacks."""
    lines: list[tuple[str, str]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append((record.levelname, record.getMessage()))

    logger = logging.getLogger(name)
    saved, logger.handlers = logger.handlers, [Collect()]
    propagate, logger.propagate = logger.propagate, False
    try:
        yield lines
    finally:
        logger.handlers, logger.propagate = saved, propagate


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


class Command(BaseCommand):
    help = "Walk through the shop's cases and print what airlock buffered, dropped and sent."

    def handle(self, *args: Any, **options: Any) -> None:
        say = self.stdout.write
        reset = self._reset()
        backend = settings.SHOP_EXECUTOR
        in_process = backend == "sync"
        executor = f"with_retry({backend}_executor, attempts=3)"
        say(f"airlock demo: the example shop on {connection.vendor}, executor: {executor}")
        say(self._wrap(reset, indent=""))
        intro = (
            "Every request runs in an airlock scope (AirlockMiddleware). Code deep in the call "
            "stack enqueues side effects; they leave only when the request succeeds and its "
            "transaction commits."
        )
        if not in_process:
            intro += f" Tasks go to the {backend} worker through Redis; it must be running."
        say(self._wrap(intro, indent=""))
        # Cases 6 and 7 simulate a warehouse outage in this process: only the sync executor
        # runs the task here.
        cases = CASES if in_process else CASES[:5]
        client = Client(raise_request_exception=False)
        rows = []
        for number, case in enumerate(cases, 1):
            effects_before = Effect.objects.count()
            # A broker that is down fails every send: the reason is printed at the end, once,
            # instead of a traceback per intent.
            quiet = ("django.request",) if in_process else ("django.request", "airlock")
            with _quiet(*quiet):
                record, notes = case.run(client)
            ran = Effect.objects.count() - effects_before if in_process else None
            say("")
            status = f" -> {record.status}" if record.status else ""
            say(f"{number}. {case.title}    [{record.label}{status}]")
            say(self._wrap(case.story.format(executor=executor)))
            width = max((len(e.call) for e in record.entries.values()), default=0)
            for entry in record.entries.values():
                # the exception's type is enough here; the /airlock/ page shows its message
                why = entry.why.split(":")[0] if entry.fate == "failed" else entry.why
                why = f"  ({why})" if why else ""
                say(_fit(f"     {entry.call:<{width}}  {entry.fate}{why}"))
            for note in notes:
                say(_fit(f"   {note}"))
            rows.append((f"{number}. {case.short}", record, ran))
        say("")
        self._summary(rows)
        say(self._wrap(LEGEND + ("; ran: tasks that really ran." if in_process else "."), ""))
        say("")
        if in_process:
            done = (
                f"The shop now has {Order.objects.count()} orders and its tasks did "
                f"{Effect.objects.count()} things."
            )
        else:
            sent = sum(record.count("dispatched") for _, record, _ in rows)
            unsent = [e for _, r, _ in rows for e in r.entries.values() if e.fate == "failed"]
            ran = self._wait_for_worker(sent)
            done = f"The {backend} worker ran {ran} of the {sent} tasks sent."
            if unsent:
                done += (
                    f" {len(unsent)} could not be sent ({unsent[0].why.rstrip('.')}). Is Redis "
                    f"running at {settings.SHOP_REDIS_URL}? Start it (`redis-server`, say), then "
                    "the worker as example_project/README.md shows, and run the demo again."
                )
            elif ran < sent:
                done += " Is it running? The README shows how to start it."
        say(
            self._wrap(
                f"{done} Run `make serve` and open http://127.0.0.1:8000/airlock/ to watch the "
                "same journal in a browser.",
                indent="",
            )
        )

    def _wait_for_worker(self, expected: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while (ran := Effect.objects.count()) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        return ran

    def _summary(self, rows: list[tuple[str, journal.Record, int | None]]) -> None:
        show_ran = rows[0][2] is not None
        headers = ["buffered", *FATES, *(["ran"] if show_ran else [])]
        first = max(len(title) for title, _, _ in rows)
        line = f"{'case':<{first}}  " + "  ".join(headers)
        self.stdout.write(line)
        self.stdout.write("-" * len(line))
        for title, record, ran in rows:
            values = [record.buffered, *(record.count(f) for f in FATES)]
            values += [ran] if show_ran else []
            cells = [f"{v or '-':>{len(h)}}" for v, h in zip(values, headers, strict=True)]
            self.stdout.write(f"{title:<{first}}  " + "  ".join(cells))
        self.stdout.write("-" * len(line))

    def _wrap(self, text: str, indent: str = "   ") -> str:
        return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent)

    def _reset(self) -> str:
        """Start from an empty shop (products stay) so every run prints the same story.

        Returns the sentence that tells the user what was deleted.
        """
        try:
            Product.objects.exists()
        except OperationalError as exc:
            raise CommandError(f"{exc}: run `python manage.py migrate` first") from exc
        if not Product.objects.exists():
            raise CommandError("no products: run `python manage.py migrate` to load them")
        orders, effects = Order.objects.count(), Effect.objects.count()
        tables = [Effect._meta.db_table, Order._meta.db_table]
        sql = connection.ops.sql_flush(no_style(), tables, reset_sequences=True)
        connection.ops.execute_sql_flush(sql)
        journal.clear()
        warehouse.calls.clear()
        return (
            f"The demo starts from an empty shop: it has just deleted every order ({orders}), "
            f"every task effect ({effects}) and the /airlock/ journal in "
            f"{connection.settings_dict['NAME']} (the products stay)."
        )
