from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.example.helpers import manage


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("shop-template") / "shop.sqlite3"
    manage(db, "migrate", "-v0")
    return db


@pytest.fixture
def new_shop_db(
    _migrated_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[], Path]:
    """Make a fresh, migrated SQLite database for the shop (migrated once, copied after)."""

    def make() -> Path:
        db = tmp_path_factory.mktemp("shop") / "shop.sqlite3"
        shutil.copyfile(_migrated_template, db)
        return db

    return make
