from __future__ import annotations

import pytest

from tests.django import tasks


@pytest.fixture(autouse=True)
def ran():
    """What the `record` task ran during the test (the default sync executor runs it)."""
    tasks.RAN.clear()
    yield tasks.RAN
    tasks.RAN.clear()


@pytest.fixture
def no_buffer_hooks():
    """No buffer hook installed, as in a project without the outbox app (these settings install
    it, and its hook makes every enqueue go through ``on_buffered``): a ``DjangoScope`` then
    takes each intent after its first on the direct path (``Tied``)."""
    from airlock.integrations.django.scope import buffer_hooks

    saved = buffer_hooks[:]
    buffer_hooks.clear()
    yield
    buffer_hooks[:] = saved
