"""``python -m airlock.relay`` (or ``airlock-relay``): the SQLAlchemy outbox's relay process.

Sends committed outbox rows through the executor until SIGTERM or SIGINT (the send in progress
returns first; rows not yet sent stay pending), or drains what is ready and exits with
``--once``. ``--outbox module:attribute`` names your ``Outbox`` (its table, settings and
tasks); ``--import`` runs modules that register tasks or call ``airlock.configure`` first.
For the Django outbox use ``manage.py airlock_relay`` instead.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airlock.relay",
        description="Relay durable intents from the SQLAlchemy outbox table to the executor.",
    )
    parser.add_argument(
        "--url", help="database URL of the outbox table (default: the Outbox's engine)"
    )
    parser.add_argument(
        "--outbox",
        metavar="MODULE:ATTR",
        help="your Outbox object, e.g. shop.outbox:outbox (default: Outbox() with --table)",
    )
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import this module first (registers tasks, calls airlock.configure); repeatable",
    )
    parser.add_argument("--executor", help="dotted path of the executor to send with")
    parser.add_argument("--table", help="table name when no --outbox is given")
    parser.add_argument("--schema", help="table schema when no --outbox is given")
    parser.add_argument("--once", action="store_true", help="drain ready rows, then exit")
    parser.add_argument("--batch-size", type=int, default=None, help="rows per transaction")
    parser.add_argument("--interval", type=float, default=None, help="seconds to sleep when idle")
    return parser


def _load_outbox(spec: str) -> Any:
    from airlock.integrations.sqlalchemy.outbox import Outbox

    module, sep, attribute = spec.partition(":")
    if not sep or not module or not attribute:
        raise SystemExit(f"--outbox {spec!r}: expected MODULE:ATTRIBUTE, e.g. shop.outbox:outbox")
    value = getattr(importlib.import_module(module), attribute, None)
    if not isinstance(value, Outbox):
        raise SystemExit(f"--outbox {spec!r} is {value!r}, not an airlock Outbox")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the relay; returns the exit status."""
    options = _parser().parse_args(argv)
    from airlock.integrations._extras import require

    with require("sqlalchemy", __name__):
        from sqlalchemy import create_engine

    from airlock import _config
    from airlock.integrations.sqlalchemy.outbox import Outbox

    if "" not in sys.path:
        sys.path.insert(0, "")  # as `python -m` does: modules of the current directory
    for module in options.imports:
        importlib.import_module(module)
    if options.outbox:
        outbox = _load_outbox(options.outbox)
    else:
        extra = {"table_name": options.table} if options.table else {}
        outbox = Outbox(schema=options.schema, **extra)
    engine = create_engine(options.url) if options.url else outbox.engine
    if engine is None:
        raise SystemExit("airlock relay: no database: pass --url or give the Outbox an engine")
    executor = None
    if options.executor:
        executor = _config.resolve_executor(options.executor, "--executor")
    relay = outbox.relay(engine, executor=executor, batch_size=options.batch_size)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def stop(signum: int, frame: FrameType | None) -> None:
        print(
            f"airlock relay: signal {signum}, stopping after the send in progress "
            "(rows not yet sent stay pending)",
            file=sys.stderr,
            flush=True,
        )
        relay.stop.set()

    for sig in previous:
        signal.signal(sig, stop)
    try:
        url = engine.url.render_as_string(hide_password=True)
        print(
            f"airlock relay: relaying from {outbox.table.fullname} on {url} "
            f"(batch {relay.batch_size})",
            flush=True,
        )
        if not relay.claims_rows:
            print(
                "airlock relay: this database cannot lock rows (SQLite): run only one relay at "
                "a time on it, or two relays will send the same rows",
                file=sys.stderr,
                flush=True,
            )
        if options.once:
            relay.drain()
        else:
            relay.run(options.interval)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.dispose()
    counts = relay.counts
    print(
        f"airlock relay: stopped; sent={counts.sent} retried={counts.retried} dead={counts.dead}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
