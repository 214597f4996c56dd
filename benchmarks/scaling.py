"""Scaling: how each per-intent figure grows from 10 to 10,000 intents per flush, and the plot.

Reads the results celery_redis.py, dramatiq_huey.py and celery_rabbitmq.py saved in
build/bench/ (running them first when they are missing), adds airlock's core enqueue+flush with
a no-op executor at the same sizes, and reports for every series the ratio "per-intent cost at
the largest flush / per-intent cost at 10 intents" (1.0 = flat, which is the goal). Draws
docs/img/per_intent.png (per-intent cost against flush size, log-log; Redis on the left with
its raw LPUSH floors, RabbitMQ on the right with its raw AMQP floors). Prints one JSON line,
then a table.
"""

from __future__ import annotations

import _bench

import airlock

PLOT = _bench.ROOT / "docs" / "img" / "per_intent.png"


def noop(*args: object) -> None:
    pass


def noop_executor(intent: object) -> None:
    pass


def core_flush(n: int) -> None:
    enqueue = airlock.enqueue
    with airlock.scope(executor=noop_executor):
        for i in range(n):
            enqueue(noop, i)


RABBITMQ = "RabbitMQ: "  # prefix of the celery_rabbitmq series (their names repeat Redis's)


def broker_series() -> dict[str, dict[str, float]]:
    series: dict[str, dict[str, float]] = {}
    for name in ("celery_redis", "dramatiq_huey", "celery_rabbitmq"):
        result = _bench.load(name)
        if result is None or result.get("sizes") != _bench.SIZES:
            module = __import__(name)
            result = module.main()
        prefix = RABBITMQ if name == "celery_rabbitmq" else ""
        series.update({prefix + key: value for key, value in result["series"].items()})
    return series


def plot(series: dict[str, dict[str, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # colour = queue (black: the raw broker floors), line = way of sending (dotted: own loop
    # or raw, dashed: airlock per message, solid: airlock batched)
    colours = {"celery": "tab:green", "dramatiq": "tab:blue", "huey": "tab:orange"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), dpi=110, sharey=True)
    for name, values in series.items():
        ax = right if name.startswith(RABBITMQ) else left
        sizes = [int(s) for s in values]
        colour = next((c for q, c in colours.items() if q in name), "tab:gray")
        if "apply_async" in name:
            colour = colours["celery"]
        if "raw" in name:
            colour = "black"
        style = "-" if "batch" in name or "core" in name else ("--" if "airlock" in name else ":")
        if "raw" in name:
            style = ":" if "each" in name or "round trip" in name else "-."
        ax.plot(
            sizes, list(values.values()), style, color=colour, marker="o", markersize=3,
            label=name.removeprefix(RABBITMQ),
        )  # fmt: skip
    for ax, title in ((left, "Redis"), (right, "RabbitMQ (Celery)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("intents per flush")
        ax.set_title(f"{title} on loopback")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left", ncol=2)
    left.set_ylabel("microseconds per intent (min of rounds)")
    fig.suptitle("Per-intent dispatch cost against flush size")
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT)
    plt.close(fig)


def main() -> dict[str, object]:
    series = broker_series()
    series["airlock core (no-op executor)"] = {
        str(size): round(_bench.per_intent_us(core_flush, size), 3) for size in _bench.SIZES
    }
    largest = str(_bench.SIZES[-1])
    growth = {name: round(values[largest] / values["10"], 2) for name, values in series.items()}
    plot(series)
    result = {
        "benchmark": "scaling",
        "unit": "ratio of us_per_intent at the largest flush to 10 intents",
        "from": 10,
        "to": int(largest),
        "growth": growth,
        "core_us_per_intent": series["airlock core (no-op executor)"],
        "plot": str(PLOT.relative_to(_bench.ROOT)),
        **_bench.meta(),
    }
    _bench.save("scaling", result)
    print(f"Growth of the per-intent cost from 10 to {largest} intents (1.0 = flat)")
    for name, ratio in growth.items():
        print(f"{name:40}{ratio:>8.2f}x")
    print(f"plot: {PLOT.relative_to(_bench.ROOT)}")
    print("\nMarkdown table for docs/performance.md:")
    print(markdown_table(series))
    return result


def markdown_table(series: dict[str, dict[str, float]]) -> str:
    sizes = list(next(iter(series.values())))
    lines = [
        "| us per intent | " + " | ".join(f"{int(s):,}" for s in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for name, values in series.items():
        cells = " | ".join(f"{values[s]:,.1f}" for s in sizes)
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
