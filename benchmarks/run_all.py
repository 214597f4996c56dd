"""Run every benchmark script (``make bench``) and collect their JSON lines.

Runs each ``benchmarks/*.py`` script (not the ``_`` helpers, not this one) in its own process:
core, django, celery_redis, celery_rabbitmq, dramatiq_huey, outbox, then the others in name order
(asgi_middleware, core_callgrind, dramatiq_rabbitmq, middleware_callgrind, vs_airlock_py, ...),
then scaling last (it reads the broker results and draws the plot). A new script joins by being
in this folder. Each prints one JSON line and a short table; the JSON lines are gathered in
build/bench/all.jsonl. Exits non-zero if any script failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIRST = ["core", "django", "celery_redis", "celery_rabbitmq", "dramatiq_huey", "outbox"]
LAST = ["scaling"]


def scripts() -> list[Path]:
    found = {p.stem: p for p in HERE.glob("*.py") if not p.stem.startswith("_")}
    found.pop("run_all", None)
    order = [n for n in FIRST if n in found]
    order += sorted(n for n in found if n not in FIRST and n not in LAST)
    order += [n for n in LAST if n in found]
    return [found[n] for n in order]


def main() -> int:
    path = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
    env = {**os.environ, "PYTHONPATH": path}
    lines: list[str] = []
    failed: list[str] = []
    for script in scripts():
        print(f"\n=== {script.name} ===", flush=True)
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True
        )
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            sys.stdout.write(proc.stderr[-3000:])
            failed.append(script.name)
        json_lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        lines += json_lines[:1]
        print(f"({script.name}: {time.monotonic() - start:.0f} s)", flush=True)
    out = ROOT / "build" / "bench" / "all.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{line}\n" for line in lines))
    print(f"\n{len(lines)} JSON lines in {out.relative_to(ROOT)}")
    for line in lines:
        print(json.dumps(json.loads(line)))
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
