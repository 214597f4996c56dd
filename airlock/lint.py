"""Find task-queue calls that bypass airlock: ``python -m airlock.lint PATHS``.

Flags (code ``AIR001``) direct ``.delay()``, ``.apply_async()``, ``.delay_on_commit()``,
``.send()``, ``.send_with_options()``, ``.enqueue()``, ``.schedule()``, ``.send_task()`` and
django-q2's ``async_task()`` family. ``airlock.enqueue(...)``, an ``enqueue`` imported from
airlock and a Django signal's ``.send(sender=...)`` are fine. ``# noqa: AIR001`` (or a bare
``# noqa``) on the line of the call silences it.
Exit status: 0 clean, 1 when something was found, 2 when a file could not be parsed.
The same check runs inside flake8 through ``airlock.flake8_plugin.AirlockChecker``.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

__all__ = ["CODE", "METHODS", "Finding", "check_file", "check_source", "check_tree", "main"]

CODE = "AIR001"

#: Method names that send work to a queue directly (Celery, dramatiq, huey, Django tasks).
METHODS = frozenset(
    {
        "apply_async",
        "apply_async_on_commit",
        "delay",
        "delay_on_commit",
        "enqueue",
        "schedule",
        "send",
        "send_task",
        "send_with_options",
    }
)
#: Plain functions that do the same (django-q2).
FUNCTIONS = frozenset({"async_task", "async_chain", "async_iter"})

_SKIP_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", "build"})
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z0-9]+(?:[,\s]+[A-Z0-9]+)*))?", re.IGNORECASE)


class Finding(NamedTuple):
    """One call that bypasses airlock."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col + 1}: {self.message}"


def _airlock_names(tree: ast.AST) -> set[str]:
    """Names bound by ``import airlock`` / ``from airlock... import enqueue`` (never flagged)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(
                (a.asname or a.name).split(".")[0] for a in node.names if _is_airlock(a.name)
            )
        elif isinstance(node, ast.ImportFrom) and _is_airlock(node.module or ""):
            names.update(a.asname or a.name for a in node.names)
    return names


def _is_airlock(module: str) -> bool:
    return module == "airlock" or module.startswith("airlock.")


def check_tree(tree: ast.AST, ignore: Iterable[str] = ()) -> Iterator[tuple[int, int, str]]:
    """Yield ``(line, col, message)`` for each queue call in a parsed module."""
    ignored = frozenset(ignore)
    allowed = _airlock_names(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            name = func.attr
            if name not in METHODS and name not in FUNCTIONS:
                continue
            if isinstance(func.value, ast.Name) and func.value.id in allowed:
                continue  # airlock.enqueue(...)
            if name == "send" and any(k.arg == "sender" for k in node.keywords):
                continue  # a Django signal: signal.send(sender=...)
            shown = f".{name}()"
        elif isinstance(func, ast.Name) and func.id in FUNCTIONS and func.id not in allowed:
            name, shown = func.id, f"{func.id}()"
        else:
            continue
        if name in ignored:
            continue
        yield (
            node.lineno,
            node.col_offset,
            f"{CODE} direct queue call {shown} bypasses airlock; use airlock.enqueue(task, ...) "
            "so it leaves only after commit",
        )


def _silenced(line: str) -> bool:
    match = _NOQA.search(line)
    if match is None:
        return False
    codes = match.group("codes")
    return codes is None or CODE in re.split(r"[,\s]+", codes.upper())


def check_source(source: str, path: str = "<string>", ignore: Iterable[str] = ()) -> list[Finding]:
    """Findings in one module's source; ``SyntaxError`` propagates."""
    tree = ast.parse(source, filename=path)
    lines = source.splitlines()
    return [
        Finding(path, line, col, message)
        for line, col, message in check_tree(tree, ignore)
        if not (line <= len(lines) and _silenced(lines[line - 1]))
    ]


def check_file(path: Path, ignore: Iterable[str] = ()) -> list[Finding]:
    """Findings in one file."""
    return check_source(path.read_text(encoding="utf-8"), str(path), ignore)


def _python_files(paths: Iterable[str]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*.py")):
                if not _SKIP_DIRS.intersection(child.relative_to(path).parts[:-1]):
                    yield child
        else:
            yield path


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m airlock.lint",
        description="Flag task-queue calls that bypass airlock (AIR001).",
    )
    parser.add_argument("paths", nargs="+", help="files or directories to check")
    parser.add_argument(
        "--ignore-method",
        action="append",
        default=[],
        metavar="NAME",
        help="do not flag this method name (e.g. send, when .send() is never dramatiq's)",
    )
    args = parser.parse_args(argv)
    status = 0
    count = 0
    for path in _python_files(args.paths):
        try:
            findings = check_file(path, args.ignore_method)
        except (SyntaxError, UnicodeDecodeError, OSError) as exc:
            print(f"{path}: cannot check: {exc}", file=sys.stderr)
            status = 2
            continue
        for finding in findings:
            print(finding)
        count += len(findings)
    if count:
        print(
            f"{count} direct queue call(s) found; route them through airlock.enqueue() or mark "
            "a deliberate one with '# noqa: AIR001'",
            file=sys.stderr,
        )
        status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
