"""``raises_dispatch``: a flush failed, and somewhere in its causes is the error a test expects."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import airlock


@contextmanager
def raises_dispatch(
    cause: type[BaseException], match: str | None = None
) -> Iterator[pytest.ExceptionInfo[airlock.DispatchError]]:
    """Expect a ``DispatchError`` whose chain of causes holds a ``cause`` matching ``match``."""
    with pytest.raises(airlock.DispatchError) as info:
        yield info
    error: BaseException | None = info.value
    while error is not None:
        if isinstance(error, cause) and (match is None or re.search(match, str(error))):
            return
        error = error.__cause__
    raise AssertionError(f"no {cause.__name__} matching {match!r} behind {info.value!r}")
