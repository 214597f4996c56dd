# The compiled half of a scope's ``with`` (_speedups.c; airlock/_core.py says when it is used).
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

class Core:
    _state: str
    _token: Any
    _prior: Any
    _direct: Any
    _buffer: list[Any] | None
    _plain: bool
    def __enter__(self) -> Any: ...
    def __exit__(self, exc_type: Any, exc: Any, tb: Any, /) -> None: ...

class Maker:
    def __init__(self, scope: Callable[..., Any], config: dict[str, Any], /) -> None: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

def setup(
    current: ContextVar[Any], new: str, active: str, flushed: str, fresh: object, /
) -> None: ...
