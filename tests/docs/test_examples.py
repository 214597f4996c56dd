"""Every ```python block of every docs page (and the README) runs, in order, per page.

A block fenced as ```python title="not run: <reason>" is skipped (it needs a broker, a
project of its own, ...). Everything else must run as written: a page that stops working is
a failing test, reported with the page and line of the block that broke.

Django is configured by tests.settings (pytest-django); each page runs in a database test
with real commits (``transaction=True``), so ``on_commit`` behaves as in production. Whatever a
page changes in airlock's configuration or event listeners is restored afterwards.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import airlock
from airlock import _events

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)$")
SKIP = re.compile(r'title="not run:\s*[^"]+"')


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(first line number, code)`` of each runnable python block, in page order."""
    blocks: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"].strip()
        body: list[str] = []
        i += 1
        start = i + 1  # 1-based line number of the first code line
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        language = info.split()[0].lstrip("{.").rstrip("}") if info else ""
        if language in ("python", "py") and not SKIP.search(info):
            blocks.append((start, "\n".join(body)))
    return blocks


# The README's quickstart is held to the same standard as the docs.
PAGES = [*sorted(DOCS.rglob("*.md")), DOCS.parent / "README.md"]
# Pages without python blocks (reference pages, placeholders) have nothing to run.
RUNNABLE = [page for page in PAGES if python_blocks(page.read_text())]


def test_docs_pages_were_found() -> None:
    assert DOCS.joinpath("index.md") in RUNNABLE
    assert DOCS.joinpath("quickstart.md") in RUNNABLE
    assert DOCS.parent.joinpath("README.md") in RUNNABLE


def test_block_parser_skips_not_run_blocks_and_keeps_line_numbers() -> None:
    page = 'a\n```python\nx = 1\n```\n```python title="not run: broker"\nboom()\n```\n'
    page += "  ```py\n  y = 2\n  ```\n```console\n$ ls\n```\n"
    assert python_blocks(page) == [(3, "x = 1"), (9, "y = 2")]


@pytest.fixture
def restore_airlock():
    """Run the page with airlock configured from tests.settings; put everything back after."""
    from airlock.integrations.django.conf import apply_settings

    config = airlock.get_configuration()
    listeners = _events.listeners
    airlock.reset_configuration()
    apply_settings()  # whatever earlier tests configured, pages see the Django defaults
    yield
    airlock.reset_configuration()
    airlock.configure(**{k: v for k, v in config.items() if v not in (None, {})})
    _events.listeners = listeners


@pytest.mark.django_db(transaction=True, databases="__all__")
@pytest.mark.parametrize("page", RUNNABLE, ids=[str(p.relative_to(DOCS.parent)) for p in RUNNABLE])
def test_page_examples_run(page: Path, restore_airlock: None) -> None:
    blocks = python_blocks(page.read_text())
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for line, code in blocks:
        # Pad so tracebacks point at the block's real line in the page.
        source = "\n" * (line - 1) + code
        compiled = compile(source, str(page), "exec")
        try:
            exec(compiled, namespace)
        except Exception as exc:
            where = f"{page.relative_to(DOCS.parent)}, block at line {line}"
            raise AssertionError(f"{where} failed: {type(exc).__name__}: {exc}") from exc
