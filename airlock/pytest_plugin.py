"""pytest plugin (registered through the ``pytest11`` entry point): airlock fixtures.

- ``airlock_capture``: a ``airlock.testing.Capture`` active for the test; executors run nothing.
- ``airlock_capture_executing``: the same, but executors run as configured.
  Under both, code that enqueues with no scope works: each such intent gets a scope of its own
  (``outside_scope="on_commit"``: sent at once, or when the test's transaction commits).
- ``airlock_scope``: an ambient scope around the test (the ``Scope``, to inspect): what is
  enqueued with no scope of its own is flushed after a passing test, discarded after a failing
  one. ``--airlock-scope`` or the ini option ``airlock_scope = true`` gives it to every test;
  ``@pytest.mark.no_airlock_scope`` exempts one.
- ``airlock_configuration``: ``airlock.configure``; whatever the test configures is undone after.
- ``--airlock-strict`` (or ``--airlock-strict=warn``), or the ini option ``airlock_strict =
  raise`` / ``warn``: strict mode for the whole run, whatever airlock is configured with, so
  every direct queue publish a test makes inside a transaction or a scope is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airlock import Scope
    from airlock.testing import Capture

_passed = pytest.StashKey[bool]()
_strict_key = pytest.StashKey[bool]()
# Set up before the scope (so torn down after it): the capture sees the scope's fates, and the
# database is still there when the scope flushes.
_BEFORE_SCOPE = (
    "airlock_capture",
    "airlock_capture_executing",
    "_django_db_marker",
    "db",
    "transactional_db",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("airlock")
    group.addoption(
        "--airlock-scope",
        action="store_true",
        default=None,
        help="run every test in an airlock scope (the airlock_scope fixture)",
    )
    group.addoption(
        "--airlock-strict",
        nargs="?",
        const="raise",
        default=None,
        choices=("raise", "warn"),
        help="airlock strict mode for the run: 'raise' (the default when given) or 'warn'",
    )
    parser.addini(
        "airlock_strict",
        default="",
        help="airlock strict mode for the run: raise or warn (empty: as configured)",
    )
    parser.addini(
        "airlock_scope",
        type="bool",
        default=False,
        help="run every test in an airlock scope (the airlock_scope fixture)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "no_airlock_scope: not in an airlock scope, even with --airlock-scope"
    )
    strict = config.getoption("airlock_strict") or config.getini("airlock_strict").strip()
    if strict:
        from airlock import _strict

        try:
            _strict.force(strict)
        except ValueError as exc:
            raise pytest.UsageError(f"airlock_strict: {exc}") from None
        config.stash[_strict_key] = True


def pytest_sessionstart(session: pytest.Session) -> None:
    if session.config.stash.get(_strict_key, False):
        from airlock import _strict

        _strict.refresh()  # libraries that needed Django set up (pytest-django did it by now)


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_strict_key, False):
        from airlock import _strict

        _strict.force(False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not (config.getoption("airlock_scope") or config.getini("airlock_scope")):
        return
    for item in items:
        names = getattr(item, "fixturenames", None)
        if names is None or "airlock_scope" in names or item.get_closest_marker("no_airlock_scope"):
            continue
        names.insert(0, "airlock_scope")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_passed] = report.passed  # airlock_scope flushes after a passing test only
    return report


@pytest.fixture
def airlock_scope(request: pytest.FixtureRequest) -> Iterator[Scope | None]:
    """An ambient scope around the test; flushed if the test passed, discarded otherwise.

    Scopes the test opens flush on their own as usual; this one keeps only what is enqueued
    with no scope of its own. ``None`` (no scope) for a test marked ``no_airlock_scope``.
    """
    if request.node.get_closest_marker("no_airlock_scope"):
        yield None
        return
    for name in _BEFORE_SCOPE:
        if name in request.fixturenames:
            request.getfixturevalue(name)
    from airlock._ambient import open_scope

    scope = open_scope().enter()
    yield scope
    if scope.is_active:
        scope.exit()
        if request.node.stash.get(_passed, False):
            scope.flush()
        else:
            scope.discard()


@pytest.fixture
def airlock_capture() -> Iterator[Capture]:
    """Record every intent and its fate during the test; nothing is executed."""
    from airlock import _outside
    from airlock.testing import capture

    with capture() as captured, _outside.override("on_commit"):
        yield captured


@pytest.fixture
def airlock_capture_executing() -> Iterator[Capture]:
    """Record every intent and its fate during the test; executors run as configured."""
    from airlock import _outside
    from airlock.testing import capture

    with capture(execute=True) as captured, _outside.override("on_commit"):
        yield captured


@pytest.fixture
def airlock_configuration() -> Iterator[Callable[..., None]]:
    """``airlock.configure``, with the previous configuration restored after the test."""
    from airlock import _config

    with _config._lock:
        saved: dict[str, Any] = dict(_config.current())
    yield _config.configure
    with _config._lock:
        _config.current().clear()
        _config.current().update(saved)
    from airlock import _strict

    _strict.configure(saved["strict"])
