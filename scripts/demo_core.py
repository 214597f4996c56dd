"""A short tour of the core: a scope buffering, a policy dropping, a flush dispatching."""

from __future__ import annotations

import airlock


def send_receipt(order_id: int) -> None:
    print(f"    -> send_receipt ran for order {order_id}")


def notify_warehouse(order_id: int) -> None:
    print(f"    -> notify_warehouse ran for order {order_id}")


def main() -> None:
    print("1. A scope buffers intents and dispatches them when it ends without an error:")
    with airlock.scope() as scope:
        airlock.enqueue(send_receipt, order_id=7)
        airlock.enqueue(notify_warehouse, 7)
        print(f"    buffered: {[str(i) for i in scope.intents]} (nothing ran yet)")
    print("2. A policy decides which intents survive (BlockTasks drops the warehouse call):")
    with airlock.scope(policy=airlock.BlockTasks({"notify_warehouse"})) as scope:
        airlock.enqueue(send_receipt, order_id=8)
        airlock.enqueue(notify_warehouse, 8)
    print(f"    dropped: {[str(i) for i, _ in scope.dropped]}")
    print("3. An error discards everything the scope buffered:")
    try:
        with airlock.scope() as scope:
            airlock.enqueue(send_receipt, order_id=9)
            raise RuntimeError("payment declined")
    except RuntimeError as exc:
        print(f"    {exc!r} propagated; discarded: {scope.is_discarded}, nothing ran")


if __name__ == "__main__":
    main()
