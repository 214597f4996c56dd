"""Where the test services live, and whether they answer.

Every suite asks here. A service that does not answer skips its tests with a visible reason,
unless ``AIRLOCK_REQUIRE_SERVICES=1`` (CI), which turns the skip into a failure.

Redis: ``AIRLOCK_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) names the server and a
base database. The suites and benchmarks use the ten databases after it (base + 1 to base + 10,
so 1 to 10 by default; ``redis_url(n)`` is base + n) and flush them: point it at a Redis whose
databases there hold nothing you want to keep.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import socket
from urllib.parse import urlsplit

import pytest

REQUIRE = os.environ.get("AIRLOCK_REQUIRE_SERVICES") == "1"


def _address(prefix: str, port: int) -> tuple[str, int]:
    env = os.environ.get
    return env(f"AIRLOCK_{prefix}_HOST", "127.0.0.1"), int(env(f"AIRLOCK_{prefix}_PORT", str(port)))


REDIS_URL = urlsplit(os.environ.get("AIRLOCK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
REDIS_BASE_DB = int(REDIS_URL.path.strip("/") or 0)

SERVICES: dict[str, tuple[str, int]] = {
    "postgres": _address("PG", 5432),
    "redis": (REDIS_URL.hostname or "127.0.0.1", REDIS_URL.port or 6379),
    "rabbitmq": _address("AMQP", 5672),
    "mariadb": _address("MARIADB", 3306),
}

PG_USER = os.environ.get("AIRLOCK_PG_USER", "postgres")


def redis_url(db: int) -> str:
    """The URL of test database ``db`` (1 to 10): ``AIRLOCK_TEST_REDIS_URL``'s base + ``db``."""
    if not 1 <= db <= 10:
        raise ValueError(f"test Redis databases are numbered 1 to 10, not {db}")
    return REDIS_URL._replace(path=f"/{REDIS_BASE_DB + db}").geturl()


def amqp_url(vhost: str = "") -> str:
    host, port = SERVICES["rabbitmq"]
    return f"amqp://guest:guest@{host}:{port}/{vhost}"


@functools.cache
def reachable(name: str) -> bool:
    """True when the named service accepts a TCP connection (cached per process)."""
    if name == "chromium":
        return bool(shutil.which("chromium") and shutil.which("chromedriver"))
    host, port = SERVICES[name]
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str) -> None:
    """Skip the calling test (or fail it under AIRLOCK_REQUIRE_SERVICES=1) if ``name`` is down."""
    if reachable(name):
        return
    where = "" if name == "chromium" else " at {}:{}".format(*SERVICES[name])
    message = f"{name} not reachable{where}"
    if REQUIRE:
        pytest.fail(f"{message} (AIRLOCK_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require_module(module: str, extra: str) -> None:
    """Skip (or fail under AIRLOCK_REQUIRE_SERVICES=1) when an optional library is missing."""
    if importlib.util.find_spec(module) is not None:
        return
    message = f"{module} is not installed (pip install 'django-airlock[{extra}]')"
    if REQUIRE:
        pytest.fail(f"{message} (AIRLOCK_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message, allow_module_level=True)
