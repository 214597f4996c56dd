"""The one guard for optional imports: a missing package names the extra that installs it.

Every integration imports its third-party package inside ``with require(extra, __name__):``.
When the import fails, the ``ImportError`` it raises (``MissingExtraError``) says what to run,
``pip install "django-airlock[celery]"``, and which version airlock is tested with. A lazy import
(inside a function) uses the same block where it happens, so it stays lazy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from airlock.exceptions import MissingExtraError

__all__ = ["DISTRIBUTION", "EXTRAS", "missing", "require"]

#: The name to ``pip install`` (the import name stays ``airlock``).
DISTRIBUTION = "django-airlock"

#: Each extra: the package it installs and the lowest version airlock is tested with (the lower
#: bounds of ``[project.optional-dependencies]`` in pyproject.toml; a test keeps them equal).
EXTRAS: dict[str, tuple[str, str]] = {
    "django": ("Django", "5.2"),
    "celery": ("celery", "5.3"),
    "dramatiq": ("dramatiq", "1.15"),
    "huey": ("huey", "2.5"),
    "django-q": ("django-q2", "1.6"),
    "django-tasks": ("django-tasks", "0.7"),
    "lambda": ("boto3", "1.28"),
    "ray": ("ray", "2.9"),
    "sqlalchemy": ("SQLAlchemy", "2.0"),
    "fastapi": ("fastapi", "0.110"),
    "flask": ("Flask", "3.0"),
    "otel": ("opentelemetry-api", "1.20"),
    "debug-toolbar": ("django-debug-toolbar", "4.4"),
}


@contextlib.contextmanager
def require(extra: str, needed_by: str) -> Iterator[None]:
    """Run the imports in the block; an ``ImportError`` there becomes one naming ``extra``.

    ``needed_by`` is the airlock module asking (pass ``__name__``). The error raised is a
    ``MissingExtraError`` (an ``ImportError``) chained to the original one, whose text it
    repeats: a package that is installed but broken shows what it lacks.
    """
    try:
        yield
    except ImportError as exc:
        raise missing(extra, needed_by, exc) from exc


def missing(extra: str, needed_by: str, exc: ImportError) -> MissingExtraError:
    """The error for a failed import of ``extra``'s package, needed by ``needed_by``."""
    package, tested = EXTRAS[extra]
    return MissingExtraError(
        f"{needed_by} needs {package} (tested with {package}>={tested}), which is not "
        f'importable: pip install "{DISTRIBUTION}[{extra}]" ({exc})',
        name=exc.name,
    )
