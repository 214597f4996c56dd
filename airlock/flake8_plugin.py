"""flake8 plugin: ``AIR001`` for task-queue calls that bypass airlock (see ``airlock.lint``).

Registered through the ``flake8.extension`` entry point ``AIR``; flake8 handles
``# noqa: AIR001`` itself. Enable it with ``--select=AIR`` or ``extend-select = AIR``; the
escape hatches are ``airlock-ignore-call`` (glob patterns of callees, e.g. ``heartbeat.delay``)
and ``airlock-ignore-method`` (method names, on every receiver), on the command line or in the
flake8 configuration, comma-separated.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import airlock
from airlock.lint import check_tree

__all__ = ["AirlockChecker"]


def _names(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else (value or [])
    return tuple(item.strip() for item in items if item.strip())


class AirlockChecker:
    """Reports ``AIR001`` for direct ``.delay()``, ``.apply_async()``, actor ``.send()``, ..."""

    name = "airlock"
    version = airlock.__version__
    ignore_methods: tuple[str, ...] = ()
    ignore_calls: tuple[str, ...] = ()

    def __init__(self, tree: ast.AST, filename: str = "stdin") -> None:
        self.tree = tree
        self.path = None if filename in ("stdin", "-", "") else Path(filename)

    @classmethod
    def add_options(cls, parser: Any) -> None:
        parser.add_option(
            "--airlock-ignore-call",
            default="",
            parse_from_config=True,
            comma_separated_list=True,
            help="AIR001: skip calls whose callee, as written, matches one of these globs",
        )
        parser.add_option(
            "--airlock-ignore-method",
            default="",
            parse_from_config=True,
            comma_separated_list=True,
            help="AIR001: skip these method names on every receiver",
        )

    @classmethod
    def parse_options(cls, options: Any) -> None:
        cls.ignore_calls = _names(options.airlock_ignore_call)
        cls.ignore_methods = _names(options.airlock_ignore_method)

    def run(self) -> Iterator[tuple[int, int, str, type[AirlockChecker]]]:
        found = check_tree(
            self.tree, self.ignore_methods, path=self.path, ignore_calls=self.ignore_calls
        )
        for line, col, message in found:
            yield line, col, message, type(self)
