"""flake8 plugin: ``AIR001`` for task-queue calls that bypass airlock (see ``airlock.lint``).

Registered through the ``flake8.extension`` entry point ``AIR``; flake8 handles
``# noqa: AIR001`` itself. Enable it with ``--select=AIR`` or ``extend-select = AIR``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

import airlock
from airlock.lint import check_tree

__all__ = ["AirlockChecker"]


class AirlockChecker:
    """Reports ``AIR001`` for direct ``.delay()``, ``.apply_async()``, ``.send()``, ... calls."""

    name = "airlock"
    version = airlock.__version__

    def __init__(self, tree: ast.AST) -> None:
        self.tree = tree

    def run(self) -> Iterator[tuple[int, int, str, type[AirlockChecker]]]:
        for line, col, message in check_tree(self.tree):
            yield line, col, message, type(self)
