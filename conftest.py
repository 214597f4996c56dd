"""Root conftest: the ``requires(service)`` marker shared by every suite."""

from __future__ import annotations

import pytest

from tests.services import require_service


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("requires"):
        for name in marker.args:
            require_service(name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import os

    from tests.services import REQUIRE, reachable

    # A whole run on PostgreSQL or MariaDB (`AIRLOCK_TEST_DB`) needs the server up front.
    backend = os.environ.get("AIRLOCK_TEST_DB")
    if backend in ("postgres", "mariadb") and not reachable(backend):
        if REQUIRE:
            raise pytest.UsageError(f"{backend} not reachable (AIRLOCK_REQUIRE_SERVICES=1)")
        skip = pytest.mark.skip(reason=f"{backend} not reachable for AIRLOCK_TEST_DB={backend}")
        for item in items:
            item.add_marker(skip)
