"""Django cost: DjangoScope against raw ``transaction.on_commit``, and middleware overhead.

Prints one JSON line, then a short table. Targets (issue 3): enqueue inside ``atomic`` +
commit + dispatch with a no-op executor <= 1.5 x raw ``on_commit(functools.partial(...))``;
AirlockMiddleware adds <= 5 % to a trivial view through the test client (5,000 requests).

Run: ``.venv/bin/python benchmarks/django.py`` (SQLite in memory, tests.settings).
"""

from __future__ import annotations

import functools
import gc
import json
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

# This file is named django.py: drop its own directory from the path so `import django` finds
# Django, and put the repository root there instead (for tests.settings).
_here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
sys.path.insert(0, str(_here.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

import airlock  # noqa: E402
from airlock.integrations.django import DjangoScope  # noqa: E402
from benchmarks._django_bench import (  # noqa: E402
    clock,
    raw_on_commit,
    scope_around,
    scope_per_transaction,
)

TRANSACTIONS = 200
ROUNDS = 9
REQUESTS = 5_000
CHUNK = 10  # requests per round: short alternating rounds keep a busy machine fair to both


def noop_executor(intent: object) -> None:
    pass


# The scope django.py has always measured: DjangoScope with a no-op executor (no task runs).
scope = functools.partial(airlock.scope, executor=noop_executor, _cls=DjangoScope)


def best(*fns: Callable[[], float], rounds: int = ROUNDS) -> list[float]:
    """Min of ``rounds`` alternating runs per function, after a warm-up, with the GC off."""
    for fn in fns:
        fn()
    results = [float("inf")] * len(fns)
    gc.disable()
    try:
        for _ in range(rounds):
            for k, fn in enumerate(fns):
                results[k] = min(results[k], fn())
    finally:
        gc.enable()
    return results


def requests_once(client: Client) -> float:
    get = client.get
    start = clock()
    for _ in range(CHUNK):
        get("/trivial")
    return clock() - start


def middleware_costs() -> tuple[float, float, float]:
    """(without, with) seconds per request and the median of the paired per-round ratios.

    REQUESTS per side in alternating rounds of CHUNK; each round times both sides back to
    back, so the median ratio stays honest on a machine whose load drifts. Which side goes
    first swaps every round: always running second measurably favoured one side.
    """
    setup_test_environment()
    clients = []
    for middleware in ([], ["airlock.integrations.django.AirlockMiddleware"]):
        with override_settings(MIDDLEWARE=middleware):
            client = Client()
            client.get("/trivial")  # loads the middleware chain under this setting
            clients.append(client)
    for client in clients:
        requests_once(client)  # warm-up
    plain, ours, ratios = [], [], []
    for k in range(REQUESTS // CHUNK):
        if k % 2:
            b, a = requests_once(clients[1]), requests_once(clients[0])
        else:
            a, b = requests_once(clients[0]), requests_once(clients[1])
        plain.append(a)
        ours.append(b)
        ratios.append(b / a)
    return (
        statistics.median(plain) / CHUNK,
        statistics.median(ours) / CHUNK,
        statistics.median(ratios),
    )


def main() -> None:
    connection.ensure_connection()
    # DjangoScope alone: the outbox app (installed by tests.settings) hooks every enqueue.
    from airlock.integrations.django import scope as django_scope

    django_scope.buffer_hooks.clear()
    transactions = {}
    for per_tx in (1, 10, 100):
        raw, ours, each = best(
            lambda n=per_tx: raw_on_commit(n, TRANSACTIONS),
            lambda n=per_tx: scope_around(n, TRANSACTIONS, scope),
            lambda n=per_tx: scope_per_transaction(n, TRANSACTIONS, scope),
        )
        intents = TRANSACTIONS * per_tx
        transactions[per_tx] = (raw / intents * 1e6, ours / intents * 1e6, each / intents * 1e6)
    with override_settings(ROOT_URLCONF="benchmarks._django_bench"):
        without, with_mw, ratio = middleware_costs()
    result = {
        "benchmark": "django",
        "django": django.get_version(),
        "database": connection.vendor,
        "outbox_hook": False,
        "per_intent_us": {
            f"{n}_per_transaction": {
                "raw_on_commit": round(r, 3),
                "airlock": round(a, 3),
                "ratio": round(a / r, 2),
                "airlock_scope_per_transaction": round(e, 3),
                "ratio_scope_per_transaction": round(e / r, 2),
            }
            for n, (r, a, e) in transactions.items()
        },
        "middleware": {
            "requests": REQUESTS,
            "without_us": round(without * 1e6, 2),
            "with_us": round(with_mw * 1e6, 2),
            "overhead_pct": round((ratio - 1) * 100, 2),
        },
        "targets": {"ratio": 1.5, "middleware_overhead_pct": 5},
    }
    print(json.dumps(result))
    print(
        f"{'intents per transaction':<24}{'raw on_commit us':>17}{'airlock us':>11}{'ratio':>7}"
        f"{'scope per tx us':>16}{'ratio':>7}"
    )
    for n, (r, a, e) in transactions.items():
        print(f"{n:<24}{r:>17.2f}{a:>11.2f}{a / r:>7.2f}{e:>16.2f}{e / r:>7.2f}")
    mw = result["middleware"]
    print(
        f"middleware: {mw['without_us']} us -> {mw['with_us']} us per request "
        f"({mw['overhead_pct']:+.2f} %)"
    )


if __name__ == "__main__":
    main()
