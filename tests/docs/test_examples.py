"""Every ```python block of every docs page (and the README) runs, in order, per page.

A block fenced as ```python title="not run: <reason>" is skipped (it needs a broker, a
project of its own, ...). A block fenced as ```python title="pytest: <file>.py" is a file of a
small project: the page's such blocks are written to a directory and run by pytest, with
pytest-django and airlock's plugin, in a child process (a pytest test module cannot run by
``exec``). Everything else must run as written: a page that stops working is a failing test,
reported with the page and line of the block that broke.

Django is configured by tests.settings (pytest-django); each page runs in a database test
with real commits (``transaction=True``), so ``on_commit`` behaves as in production. Whatever a
page changes in airlock's configuration or event listeners is restored afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import airlock
from airlock import _events
from tests.services import require_module

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)$")
SKIP = re.compile(r'title="not run:\s*[^"]+"')
PYTEST_FILE = re.compile(r'title="pytest:\s*([\w/]+\.py)"')


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(first line number, code)`` of each runnable python block, in page order."""
    return [
        (start, code)
        for start, info, code in fenced_python(text)
        if not SKIP.search(info) and not PYTEST_FILE.search(info)
    ]


def pytest_files(text: str) -> dict[str, str]:
    """``{file name: code}`` of the page's ``title="pytest: <file>.py"`` blocks."""
    files = {}
    for _, info, code in fenced_python(text):
        if match := PYTEST_FILE.search(info):
            files[match[1]] = code + "\n"
    return files


def fenced_python(text: str) -> list[tuple[int, str, str]]:
    """``(first line number, info string, code)`` of each python block, in page order."""
    blocks: list[tuple[int, str, str]] = []
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
        if language in ("python", "py"):
            blocks.append((start, info, "\n".join(body)))
    return blocks


# The README's quickstart is held to the same standard as the docs.
PAGES = [*sorted(DOCS.rglob("*.md")), DOCS.parent / "README.md"]
# Pages whose examples need an optional library: skipped without it (a failure under
# AIRLOCK_REQUIRE_SERVICES=1, like the suites).
ASYNC_SQLALCHEMY = [("sqlalchemy", "sqlalchemy"), ("aiosqlite", "dev"), ("greenlet", "dev")]
NEEDS = {
    "sqlalchemy.md": ASYNC_SQLALCHEMY,
    "sqlalchemy-outbox.md": ASYNC_SQLALCHEMY,
    "fastapi.md": [("fastapi", "fastapi"), ("httpx", "dev")],
    "flask.md": [("flask", "flask")],
}
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
    for module, extra in NEEDS.get(page.name, ()):
        require_module(module, extra)
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


PROJECT_SETTINGS = """
SECRET_KEY = "docs"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "airlock.integrations.django",
]
MIDDLEWARE = ["airlock.integrations.django.AirlockMiddleware"]
ROOT_URLCONF = "checkout"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "docs.sqlite3"}}
USE_TZ = True
"""
PYTEST_PAGES = [page for page in PAGES if pytest_files(page.read_text())]


def test_pages_with_pytest_files_were_found() -> None:
    assert DOCS.joinpath("testing.md") in PYTEST_PAGES


@pytest.mark.parametrize(
    "page", PYTEST_PAGES, ids=[str(p.relative_to(DOCS.parent)) for p in PYTEST_PAGES]
)
def test_page_pytest_files_pass(page: Path, tmp_path: Path) -> None:
    """The page's project, run by pytest as a user would: every test in it passes."""
    files = pytest_files(page.read_text())
    for name, code in {**files, "docs_settings.py": PROJECT_SETTINGS}.items():
        tmp_path.joinpath(name).write_text(code)
    tests = [name for name in files if name.startswith("test_")]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--ds=docs_settings", "--rootdir", str(tmp_path), *tests],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(DOCS.parent)])},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"{page.name}: pytest failed:\n{report}"
    ran = sum(code.count("\ndef test_") + code.count("\n    def test_") for code in files.values())
    assert f"{ran} passed" in report, report
