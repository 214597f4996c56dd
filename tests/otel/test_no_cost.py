"""Without instrument(): opentelemetry is never imported and airlock has no listener of ours."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")

import subprocess
import sys
import weakref

from airlock import _events
from airlock.integrations import _propagation, otel
from tests.otel.conftest import Telemetry


def test_importing_airlock_and_its_integrations_imports_no_opentelemetry():
    code = (
        "import sys, airlock, airlock.testing, airlock.integrations.executors.webhook, "
        "airlock.integrations.executors.aws_lambda, airlock.integrations.executors.celery\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'opentelemetry')\n"
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def ours() -> list[object]:
    return [fn for fn in _events.listeners if getattr(fn, "__module__", None) == otel.__name__]


def test_until_instrumented_there_is_no_listener_and_no_hook():
    assert not otel.is_instrumented()
    assert ours() == [] and _propagation.hooks is None


def test_uninstrument_removes_the_listener_and_the_hooks(telemetry: Telemetry):
    assert otel.is_instrumented() and len(ours()) == 1 and _propagation.hooks is not None
    otel.instrument()  # a second call changes nothing
    assert len(ours()) == 1
    from celery import signals

    live = [r() if isinstance(r, weakref.ReferenceType) else r
            for _, r in signals.before_task_publish.receivers]
    assert [r for r in live if type(getattr(r, "__self__", None)).__module__ == otel.__name__]
    otel.uninstrument()
    assert ours() == [] and _propagation.hooks is None
    from celery import signals

    live = [r() if isinstance(r, weakref.ReferenceType) else r
            for _, r in signals.before_task_publish.receivers]
    assert not [r for r in live if type(getattr(r, "__self__", None)).__module__ == otel.__name__]
