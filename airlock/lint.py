"""Find task-queue calls that bypass airlock: ``python -m airlock.lint PATHS``.

Flags (code ``AIR001``):

- methods only task queues have, on any receiver: ``.delay()``, ``.apply_async()``,
  ``.delay_on_commit()``, ``.apply_async_on_commit()``, ``.send_task()`` (Celery),
  ``.send_with_options()`` (dramatiq), ``.schedule()`` (huey), ``.enqueue()`` (Django tasks,
  dramatiq brokers, RQ) and django-q2's ``async_task()`` family;
- ``.send()`` only on a *known* dramatiq actor, and a plain call of a *known* huey task
  (calling one enqueues it); "known" is defined in ``airlock._lint_tasks``: defined with the
  queue's decorator in the module, or imported from a module found next to it that does.
  Mail (``EmailMessage.send()``), sockets, generators and Django signals are never flagged.

``airlock.enqueue(...)`` and an ``enqueue`` imported from airlock are fine. ``# noqa: AIR001``
(or a bare ``# noqa``) on the line of the call silences it; ``ignore_methods`` skips a method
name on every receiver, ``ignore_calls`` skips calls whose callee, as written
(``heartbeat.delay``, ``scheduler.schedule``), matches a glob pattern.
Exit status: 0 clean, 1 when something was found, 2 when a file could not be parsed.
The same check runs inside flake8 through ``airlock.flake8_plugin.AirlockChecker``.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from airlock._lint_tasks import ACTOR, HUEY_TASK, TaskNames

__all__ = ["CODE", "METHODS", "Finding", "check_file", "check_source", "check_tree", "main"]

CODE = "AIR001"

#: Method names that only task queues use: flagged on any receiver.
METHODS = frozenset(
    {
        "apply_async",
        "apply_async_on_commit",
        "delay",
        "delay_on_commit",
        "enqueue",
        "schedule",
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


def check_tree(
    tree: ast.AST,
    ignore: Iterable[str] = (),
    *,
    path: Path | None = None,
    ignore_calls: Iterable[str] = (),
) -> Iterator[tuple[int, int, str]]:
    """Yield ``(line, col, message)`` for each queue call in a parsed module.

    ``path`` (the module's file) lets imports of actors and huey tasks be followed; without it
    only the module's own definitions are known. ``ignore`` holds method names skipped on every
    receiver, ``ignore_calls`` glob patterns matched against the callee as written.
    """
    ignored = frozenset(ignore)
    patterns = tuple(ignore_calls)
    allowed = _airlock_names(tree)
    tasks = TaskNames.for_file(tree, path)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        shown = _queue_call(node, tasks, allowed)
        if shown is None:
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ignored:
            continue
        callee = ast.unparse(func)
        if any(fnmatch.fnmatchcase(callee, pattern) for pattern in patterns):
            continue
        yield (
            node.lineno,
            node.col_offset,
            f"{CODE} direct queue call {shown} bypasses airlock; use airlock.enqueue(task, ...) "
            "so it leaves only after commit",
        )


def _queue_call(node: ast.Call, tasks: TaskNames, allowed: set[str]) -> str | None:
    """How a queue call is shown in the message, or None when ``node`` is not one."""
    func = node.func
    if isinstance(func, ast.Attribute):
        if isinstance(func.value, ast.Name) and func.value.id in allowed:
            return None  # airlock.enqueue(...)
        if func.attr in METHODS or func.attr in FUNCTIONS:
            return f".{func.attr}()"
        if func.attr == "send" and tasks.kind(func.value) == ACTOR:
            return f".send() on the dramatiq actor {ast.unparse(func.value)}"
    if isinstance(func, ast.Name) and func.id in FUNCTIONS and func.id not in allowed:
        return f"{func.id}()"
    if isinstance(func, (ast.Name, ast.Attribute)) and tasks.kind(func) == HUEY_TASK:
        return f"{ast.unparse(func)}() (calling a huey task enqueues it)"
    return None


def _silenced(line: str) -> bool:
    match = _NOQA.search(line)
    if match is None:
        return False
    codes = match.group("codes")
    return codes is None or CODE in re.split(r"[,\s]+", codes.upper())


def check_source(
    source: str,
    path: str = "<string>",
    ignore: Iterable[str] = (),
    *,
    ignore_calls: Iterable[str] = (),
) -> list[Finding]:
    """Findings in one module's source; ``SyntaxError`` propagates.

    When ``path`` names a file, imports are followed from it (see ``check_tree``).
    """
    tree = ast.parse(source, filename=path)
    lines = source.splitlines()
    file = Path(path) if path != "<string>" else None
    return [
        Finding(path, line, col, message)
        for line, col, message in check_tree(tree, ignore, path=file, ignore_calls=ignore_calls)
        if not (line <= len(lines) and _silenced(lines[line - 1]))
    ]


def check_file(
    path: Path, ignore: Iterable[str] = (), *, ignore_calls: Iterable[str] = ()
) -> list[Finding]:
    """Findings in one file."""
    source = path.read_text(encoding="utf-8")
    return check_source(source, str(path), ignore, ignore_calls=ignore_calls)


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
        help="do not flag this method on any receiver (e.g. schedule, when no code uses huey)",
    )
    parser.add_argument(
        "--ignore-call",
        action="append",
        default=[],
        metavar="PATTERN",
        help="do not flag calls whose callee, as written, matches this glob "
        "(e.g. 'heartbeat.delay', 'scheduler.*', '*.schedule')",
    )
    args = parser.parse_args(argv)
    status = 0
    count = 0
    for path in _python_files(args.paths):
        try:
            findings = check_file(path, args.ignore_method, ignore_calls=args.ignore_call)
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
