"""Which names in a module are queue tasks, for the lint check: dramatiq actors, huey tasks.

A name is *known* to be one when the module defines it with the queue's decorator
(``@dramatiq.actor``, ``@actor`` imported from dramatiq, ``@huey.task()`` on a ``Huey``
instance, djhuey's ``@task()``/``@db_task()``...), assigns it from that decorator
(``send = dramatiq.actor(fn)``), subclasses ``dramatiq.GenericActor``, or imports it from a
module that does. Imports are followed into source files found next to the checked file (the
root of its package, then the current directory), through re-exports; a module that cannot be
found there (an installed package, a name built at run time) makes nothing known.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

__all__ = ["ACTOR", "HUEY_TASK", "TaskNames"]

ACTOR = "dramatiq actor"
HUEY_TASK = "huey task"
_HUEY = "huey instance"

_HUEY_DECORATORS = frozenset({"task", "periodic_task", "db_task", "db_periodic_task"})
_ACTOR_DECORATORS = frozenset({"dramatiq.actor", "dramatiq.actor.actor"})
_DJHUEY = "huey.contrib.djhuey"
_DJHUEY_DECORATORS = frozenset((_DJHUEY, name) for name in _HUEY_DECORATORS)
_MAX_DEPTH = 8  # re-exports followed from one name


def _dotted(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _strip_call(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.Call):
        node = node.func
    return node


def module_name(path: Path) -> tuple[str, Path]:
    """The dotted name of the module in ``path`` and the directory its top package lives in."""
    path = path.resolve()
    parts = [] if path.name == "__init__.py" else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts), folder


class TaskNames:
    """The queue tasks visible in one parsed module; ``kind(expr)`` names what ``expr`` is."""

    def __init__(
        self,
        tree: ast.AST,
        module: str = "",
        roots: tuple[Path, ...] = (),
        *,
        is_package: bool = False,
        depth: int = 0,
    ) -> None:
        self.module = module
        self.roots = roots
        self.is_package = is_package
        self.depth = depth
        self.imports: dict[str, str] = {}  # local name -> fully qualified name
        self.kinds: dict[str, str] = {}  # local name -> ACTOR, HUEY_TASK or _HUEY
        for statement in _flatten(tree.body if isinstance(tree, ast.Module) else []):
            self._bind(statement)

    @classmethod
    def for_file(cls, tree: ast.AST, path: Path | None) -> TaskNames:
        """Names of the module in ``path``; imports are followed from its package's root."""
        if path is None or not path.is_file():
            return cls(tree)
        module, root = module_name(path)
        return cls(tree, module, _roots(root), is_package=path.name == "__init__.py")

    def kind(self, node: ast.expr) -> str | None:
        """ACTOR, HUEY_TASK (or None) for a name or ``module.attr`` expression in this module."""
        found = self._kind(node)
        return found if found in (ACTOR, HUEY_TASK) else None

    def _kind(self, node: ast.expr) -> str | None:
        parts = _dotted(node)
        if parts is None:
            return None
        if len(parts) == 1 and parts[0] in self.kinds:
            return self.kinds[parts[0]]
        qualified = self._qualify(parts)
        return None if qualified is None else self._resolve(qualified)

    # -- binding names ------------------------------------------------------------------------

    def _bind(self, statement: ast.stmt) -> None:
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                if alias.asname:
                    self.imports[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    self.imports[top] = top
        elif isinstance(statement, ast.ImportFrom):
            source = self._absolute(statement)
            for alias in statement.names:
                if alias.name != "*" and source is not None:
                    self.imports[alias.asname or alias.name] = f"{source}.{alias.name}"
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            kinds = [self._decorator_kind(d) for d in statement.decorator_list]
            self._set(statement.name, next((k for k in kinds if k is not None), None))
        elif isinstance(statement, ast.ClassDef):
            bases = [self._qualify(p) for b in statement.bases if (p := _dotted(b)) is not None]
            self._set(statement.name, ACTOR if "dramatiq.GenericActor" in bases else None)
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            value = statement.value
            kind = self._assigned_kind(value) if isinstance(value, ast.Call) else None
            for target in targets:
                if isinstance(target, ast.Name):
                    self._set(target.id, kind)

    def _set(self, name: str, kind: str | None) -> None:
        self.imports.pop(name, None)
        if kind is None:
            self.kinds.pop(name, None)
        else:
            self.kinds[name] = kind

    def _absolute(self, statement: ast.ImportFrom) -> str | None:
        if not statement.level:
            return statement.module
        package = self.module.split(".") if self.module else []
        if not self.is_package:
            package = package[:-1]
        up = statement.level - 1
        if up > len(package):
            return None
        base = package[: len(package) - up]
        return ".".join([*base, *([statement.module] if statement.module else [])]) or None

    def _qualify(self, parts: list[str]) -> str | None:
        head, rest = parts[0], parts[1:]
        if head in self.imports:
            return ".".join([self.imports[head], *rest])
        return None  # a local name, or one this module never binds

    def _decorator_kind(self, decorator: ast.expr) -> str | None:
        node = _strip_call(decorator)
        parts = _dotted(node)
        if parts is None:
            return None
        qualified = self._qualify(parts)
        if qualified in _ACTOR_DECORATORS:
            return ACTOR
        if qualified is not None and qualified.rpartition(".")[::2] in _DJHUEY_DECORATORS:
            return HUEY_TASK  # from huey.contrib.djhuey import db_task
        if (
            len(parts) > 1
            and parts[-1] in _HUEY_DECORATORS
            and self._kind(_expr(parts[:-1])) == _HUEY
        ):
            return HUEY_TASK  # @huey.task() on a Huey instance
        return None

    def _assigned_kind(self, call: ast.Call) -> str | None:
        parts = _dotted(call.func)
        qualified = None if parts is None else self._qualify(parts)
        if qualified is not None:
            last = qualified.rsplit(".", 1)[-1]
            if qualified.startswith("huey.") and last.endswith("Huey"):
                return _HUEY  # huey = RedisHuey("shop")
        return self._decorator_kind(call.func)  # send = dramatiq.actor(fn)

    # -- following imports -------------------------------------------------------------------

    def _resolve(self, qualified: str) -> str | None:
        if qualified == f"{_DJHUEY}.HUEY":
            return _HUEY
        if self.depth >= _MAX_DEPTH or not self.roots:
            return None
        module = qualified.rpartition(".")[0]
        while module:  # the longest prefix that is a source file: shop.tasks in shop.tasks.send
            other = _load(module, self.roots, self.depth + 1)
            if other is not None:
                return other._kind(_expr(qualified[len(module) + 1 :].split(".")))
            module = module.rpartition(".")[0]
        return None


def _expr(parts: list[str]) -> ast.expr:
    node: ast.expr = ast.Name(parts[0])
    for part in parts[1:]:
        node = ast.Attribute(node, part)
    return node


def _flatten(body: list[ast.stmt]) -> list[ast.stmt]:
    """Top-level statements, looking into ``if``/``try`` blocks (optional imports)."""
    out: list[ast.stmt] = []
    for statement in body:
        if isinstance(statement, ast.If):
            out += _flatten(statement.body) + _flatten(statement.orelse)
        elif isinstance(statement, ast.Try):
            out += _flatten(statement.body)
            for handler in statement.handlers:
                out += _flatten(handler.body)
            out += _flatten(statement.orelse) + _flatten(statement.finalbody)
        else:
            out.append(statement)
    return out


def _roots(root: Path) -> tuple[Path, ...]:
    cwd = Path.cwd().resolve()
    return (root,) if root == cwd else (root, cwd)


@lru_cache(maxsize=4096)
def _find(module: str, roots: tuple[Path, ...]) -> Path | None:
    relative = Path(*module.split("."))
    for root in roots:
        for candidate in (root / relative.with_suffix(".py"), root / relative / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _load(module: str, roots: tuple[Path, ...], depth: int) -> TaskNames | None:
    path = _find(module, roots)
    if path is None:
        return None
    return _names(path, path.stat().st_mtime_ns, module, roots, depth)


@lru_cache(maxsize=512)
def _names(
    path: Path, mtime: int, module: str, roots: tuple[Path, ...], depth: int
) -> TaskNames | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
        return None
    return TaskNames(tree, module, roots, is_package=path.name == "__init__.py", depth=depth)
