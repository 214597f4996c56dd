"""Version gates for the fast paths that build a queue library's messages themselves.

A batched executor copies what a library's own publish does (dramatiq's ``RedisBroker.enqueue``,
huey's ``enqueue``, Celery's ``apply_async``...), so it is only right for the versions it was
checked against: the version-matrix job (``make test-matrix``) compares its messages byte for
byte with the library's own, on the oldest and newest release of each range. A ``FastPath``
names those ranges; ``FastPath.enabled()`` is true when every installed version is inside them.
Outside them (an unknown newer release, or an older one), the executor takes the library's own
path for every message, and the process gets ONE ``UntestedVersionWarning`` per fast path,
never a wrong message.

The installed version is the module's ``__version__`` (what is imported), else the
distribution's metadata. Versions compare by their release numbers (``2.3.0rc1`` is ``2.3.0``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import re
import threading
import warnings
from collections.abc import Mapping

from airlock.exceptions import UntestedVersionWarning

__all__ = ["FastPath", "UntestedVersionWarning", "installed_version", "release"]

logger = logging.getLogger("airlock.executors")

_RELEASE = re.compile(r"\s*v?(\d+(?:\.\d+)*)")


def release(version: str) -> tuple[int, ...]:
    """The release numbers of a version string: ``"5.3.0rc1"`` -> ``(5, 3, 0)``.

    Raises ``ValueError`` for a string with no leading number.
    """
    match = _RELEASE.match(version)
    if match is None:
        raise ValueError(f"not a version: {version!r}")
    parts = [int(part) for part in match.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:  # 2.3 == 2.3.0
        parts.pop()
    return tuple(parts)


def installed_version(module: str) -> str | None:
    """``module.__version__`` once imported, else its distribution's version; None if absent."""
    try:
        version = getattr(importlib.import_module(module), "__version__", None)
    except ImportError:
        return None
    if isinstance(version, str):
        return version
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return None


class FastPath:
    """A fast path and the version range of each library it was verified against.

    ``FastPath("dramatiq_batch_executor on Redis", {"dramatiq": ("1.15", "2.3")})`` is enabled
    when ``1.15 <= dramatiq < 2.3`` (low bound included, high bound excluded). ``enabled()`` is
    checked on every batch but computed once per process (``reset()`` forgets it, for tests);
    when false it has issued one ``UntestedVersionWarning`` naming the library, its version,
    the range and what happens instead.
    """

    def __init__(self, name: str, ranges: Mapping[str, tuple[str, str]]) -> None:
        self.name = name
        self.ranges = dict(ranges)
        for low, high in self.ranges.values():
            if release(low) >= release(high):
                raise ValueError(f"{name}: empty version range [{low}, {high})")
        self._enabled: bool | None = None
        self._lock = threading.Lock()

    def untested(self) -> list[str]:
        """What is outside its range, e.g. ``["dramatiq 2.3.0 (verified: >=1.15,<2.3)"]``."""
        found = []
        for module, (low, high) in self.ranges.items():
            version = installed_version(module)
            if version is None:
                continue  # not installed: the path that needs it is never taken
            try:
                inside = release(low) <= release(version) < release(high)
            except ValueError:
                inside = False
            if not inside:
                found.append(f"{module} {version} (verified: >={low},<{high})")
        return found

    def enabled(self) -> bool:
        """True when every installed library is in its verified range (warns once if not)."""
        enabled = self._enabled
        if enabled is not None:
            return enabled
        with self._lock:
            if self._enabled is None:
                untested = self.untested()
                if untested:
                    message = (
                        f"airlock: {self.name} is off: {', '.join(untested)}. Each message "
                        "goes through the library's own publish call instead (same messages, "
                        "slower). Upgrade django-airlock, or pin the library inside the range."
                    )
                    logger.warning(message)
                    warnings.warn(message, UntestedVersionWarning, stacklevel=2)
                self._enabled = not untested
            return self._enabled

    def reset(self) -> None:
        """Forget the verdict: the next ``enabled()`` checks the versions again (tests)."""
        with self._lock:
            self._enabled = None

    def __repr__(self) -> str:
        ranges = ", ".join(f"{m}>={lo},<{hi}" for m, (lo, hi) in self.ranges.items())
        return f"FastPath({self.name!r}: {ranges})"
