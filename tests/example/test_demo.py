"""``manage.py demo`` runs on a fresh SQLite database and tells the true story of each case."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.example.helpers import manage
from tests.services import require_module

# case -> (buffered, dropped, rolled back, discarded, dispatched, failed, tasks ran)
EXPECTED_SUMMARY = {
    "checkout": (3, 0, 0, 0, 3, 0, 3),
    "declined card (402)": (1, 0, 0, 1, 0, 0, 0),
    "view raises (500)": (3, 0, 3, 0, 0, 0, 0),
    "savepoint rolls back": (4, 0, 1, 0, 3, 0, 3),
    "bulk command, DropAll": (6, 6, 0, 0, 0, 0, 0),
    "task retried": (3, 0, 0, 0, 3, 0, 3),
    "task keeps failing": (3, 0, 0, 0, 2, 1, 2),
}


def summary(output: str) -> dict[str, tuple[int, ...]]:
    rows = {}
    for line in output.splitlines():
        match = re.match(r"^\d\. (.+?)\s{2,}([-\d][-\d\s]+)$", line)
        if match:
            cells = match[2].split()
            rows[match[1]] = tuple(0 if c == "-" else int(c) for c in cells)
    return rows


def section(output: str, number: int) -> str:
    match = re.search(rf"^{number}\. .*?(?=^\d\. |^case )", output, re.S | re.M)
    assert match, f"case {number} missing from the demo output:\n{output}"
    return match[0]


_runs: dict[str, tuple[str, str]] = {}
_dbs: dict[str, Path] = {}


@pytest.fixture
def demo_runs(new_shop_db: Callable[[], Path]) -> tuple[str, str]:
    """The demo's output, twice on one database (run once for the whole module)."""
    if not _runs:
        db = _dbs["demo"] = new_shop_db()
        _runs["output"] = (manage(db, "demo"), manage(db, "demo"))
    return _runs["output"]


@pytest.fixture
def demo_db(demo_runs: tuple[str, str]) -> Path:
    """The database the demo ran on."""
    return _dbs["demo"]


def test_summary_counts_every_fate(demo_runs: tuple[str, str]) -> None:
    first, _ = demo_runs
    assert summary(first) == EXPECTED_SUMMARY


def test_rerun_tells_the_same_story(demo_runs: tuple[str, str]) -> None:
    first, second = demo_runs
    assert summary(second) == summary(first)
    assert section(second, 1) == section(first, 1)


def test_each_case_lists_its_intents_with_their_fates(demo_runs: tuple[str, str]) -> None:
    output, _ = demo_runs
    checkout = section(output, 1)
    assert "[POST /checkout/ -> 302]" in checkout
    for call in (
        "track_event('order_placed', order_id=1)",
        "send_receipt(order_id=1)",
        "notify_warehouse(1)",
    ):
        assert re.search(rf"{re.escape(call)}\s+dispatched", checkout), checkout

    assert "[POST /checkout/ -> 402]" in section(output, 2)
    assert re.search(r"track_event\('order_placed', order_id=2\)\s+discarded", section(output, 2))

    raises = section(output, 3)
    assert "[POST /checkout/ -> 500]" in raises
    assert len(re.findall(r"rolled back", raises)) >= 3

    savepoint = section(output, 4)
    assert re.search(r"track_event\('points_redeemed', order_id=\d+\)\s+rolled back", savepoint)
    assert re.search(r"shipped, 0 points used", savepoint)

    bulk = section(output, 5)
    assert "[manage.py ship_orders --silent]" in bulk
    assert len(re.findall(r"dropped\s+\(by DropAll\(\)\)", bulk)) == 6
    assert "shipped 3 orders; 6 intents dropped" in bulk

    retried = section(output, 6)
    assert "warehouse API calls: timed out, timed out, ok" in retried
    assert "with_retry logged 2 retries as warnings" in retried
    failing = section(output, 7)
    assert "warehouse API calls: timed out, timed out, timed out" in failing
    assert re.search(r"notify_warehouse\(\d+\)\s+failed\s+\(WarehouseTimeout\)", failing)
    assert "with_retry logged 2 retries as warnings" in failing
    assert "sent intent_failed for notify_warehouse(" in failing


def test_demo_says_it_starts_from_an_empty_shop(demo_runs: tuple[str, str]) -> None:
    first, second = (" ".join(output.split()) for output in demo_runs)
    assert "it has just deleted every order (0), every task effect (0)" in first
    assert "it has just deleted every order (8), every task effect (11)" in second


def test_each_checkout_names_its_order_by_customer(demo_runs: tuple[str, str]) -> None:
    output, _ = demo_runs
    assert "ada@example.com's order: #1, shipped" in section(output, 1)
    assert "bob@example.com's order: #2, declined" in section(output, 2)
    assert "cy@example.com's order: rolled back" in section(output, 3)
    # SQLite hands the rolled-back id 3 to the next order: the customer tells them apart
    assert "dee@example.com's order: #3, shipped" in section(output, 4)


JOURNAL_PAGE = """
from django.test import Client
page = Client().get("/airlock/").content.decode()
print(page.count('class="intent"'), page.count("<code>POST /checkout/</code>"))
print("manage.py ship_orders --silent" in page)
"""


def test_journal_survives_in_a_new_process(demo_db: Path) -> None:
    """`make demo`, then `make serve`: the server process shows the demo's journal."""
    output = manage(demo_db, "shell", "-v0", "-c", JOURNAL_PAGE).split()
    intents = sum(counts[0] for counts in EXPECTED_SUMMARY.values())
    checkouts = len(EXPECTED_SUMMARY) - 1  # every case but the bulk command is a request
    assert output == [str(intents), str(checkouts), "True"]


def test_output_is_narrow_enough_to_read(demo_runs: tuple[str, str]) -> None:
    output, _ = demo_runs
    too_wide = [line for line in output.splitlines() if len(line) > 96]
    assert not too_wide


def test_demo_says_why_nothing_was_sent_when_the_broker_is_down(
    new_shop_db: Callable[[], Path],
) -> None:
    """No mock: the broker URL points at a port where nothing listens."""
    require_module("celery", "celery")
    env = {"SHOP_EXECUTOR": "celery", "SHOP_REDIS_URL": "redis://127.0.0.1:1/0"}
    output = " ".join(manage(new_shop_db(), "demo", **env).split())
    assert "The celery worker ran 0 of the 0 tasks sent. 6 could not be sent (" in output
    assert "Is Redis running at redis://127.0.0.1:1/0? Start it" in output
    assert "Traceback" not in output
