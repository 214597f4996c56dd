"""Measured figures have one source: the benchmark's JSON line that docs/performance.md quotes.

The outbox's and the ASGI middleware's tables in performance.md must say what the quoted line
says, and docs/outbox.md links to them instead of keeping figures of its own (they used to
disagree).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def section(page: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    level = heading.split()[0]
    start = page.index(heading + "\n")
    end = re.compile(rf"^#{{1,{len(level)}}} ", re.M).search(page, start + len(heading))
    return page[start : end.start() if end else len(page)]


def table(text: str) -> dict[str, list[str]]:
    """``{first cell: the other cells}`` of every Markdown table row in ``text``."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"^\|[-:| ]+\|$", line):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_outbox_figures_are_the_quoted_benchmark_line() -> None:
    text = section((DOCS / "performance.md").read_text(), "### The outbox")
    data = json.loads(re.search(r"```json\n(.+?)\n```", text, re.S)[1])
    assert data["benchmark"] == "outbox" and data["rows"] == 10_000 and not data["quick"]
    rates = data["relayed_rows_per_second"]
    enqueue, whole = data["enqueue_us_per_intent"], data["unit_of_work_us_per_intent"]
    rows = table(text)
    assert rows["1 relay, `celery_executor`"] == [f"{rates['1_relay']:,}"]
    assert rows["4 relays, `celery_executor`"] == [f"{rates['4_relays']:,}"]
    assert rows["1 relay, `celery_batch_executor`"] == [f"{rates['1_relay_batched']:,}"]
    figures = lambda d: [str(d["in_memory"]), str(d["durable"]), str(d["extra"])]  # noqa: E731
    assert rows["enqueue inside `atomic`"] == figures(enqueue)
    assert rows["enqueue, commit, dispatch and the `sent` mark"] == figures(whole)
    ratio = rates["1_relay_batched"] / rates["1_relay"]
    assert f"sent {ratio:.1f} times the rows per second" in " ".join(text.split())


def test_outbox_page_links_to_the_figures_instead_of_keeping_its_own() -> None:
    page = (DOCS / "outbox.md").read_text()
    assert "performance.md#the-outbox" in page
    assert not re.search(r"\d[\d,]* rows/s|\|\s*\d[\d,]*\s*\|", page)


def test_asgi_middleware_figures_are_the_quoted_benchmark_line() -> None:
    text = section((DOCS / "performance.md").read_text(), "### The ASGI middleware")
    data = json.loads(re.search(r"```json\n(.+?)\n```", text, re.S)[1])
    assert data["benchmark"] == "asgi_middleware" and data["requests"] == 1_000
    per_request = data["instructions_per_request"]
    rows = table(text)
    assert rows["trivial endpoint"] == [f"{per_request['bare']:,}"]
    assert rows["the same with `AirlockMiddleware`"] == [f"{per_request['middleware']:,}"]
    assert rows["endpoint calling a no-op task itself"] == [f"{per_request['bare_call']:,}"]
    enqueue = rows["middleware, endpoint enqueueing that task (`sync_executor`)"]
    assert enqueue == [f"{per_request['middleware_enqueue']:,}"]
    on_loop = rows["the same, flushed on the event loop instead of a worker thread"]
    assert on_loop == [f"{per_request['middleware_enqueue_on_loop']:,}"]
    prose = " ".join(text.split())
    for figure in ("middleware_added", "enqueue_added", "thread_handoff"):
        assert f"{round(data[figure], -3):,} instructions" in prose or (
            f"{round(data[figure], -3):,} of those" in prose
        ), figure
    assert f"this lean that is {data['middleware_overhead_pct']:.0f} %" in prose


def test_inbox_figures_are_the_quoted_benchmark_line() -> None:
    text = section((DOCS / "performance.md").read_text(), "### The inbox")
    data = json.loads(re.search(r"```json\n(.+?)\n```", text, re.S)[1])
    assert data["benchmark"] == "inbox" and data["tasks_per_round"] == 1000 and not data["quick"]
    default, off = data["us_per_task"], data["us_per_task_synchronous_commit_off"]
    rows = table(text)
    for series in ("autocommit", "atomic", "apply_once", "duplicate"):
        assert rows[f"`{series}`"] == [str(default[series]), str(off[series])]
    extra = round(data["extra_over_atomic_us_synchronous_commit_off"])
    assert f"the inbox adds about {extra} us per task" in " ".join(text.split())
    assert "performance.md#the-inbox" in (DOCS / "outbox.md").read_text()
