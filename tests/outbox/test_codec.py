"""A durable task gets the same arguments, of the same types, from the relay as in-process.

The property test enqueues random values durably in a real scope (the in-process flush
delivers them), then sends the row again through the relay, and checks that both deliveries
are equal and of the same types, all the way down.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections import OrderedDict
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import airlock
from airlock.integrations.django import outbox
from airlock.integrations.django.outbox import codec
from airlock.integrations.django.outbox.models import OutboxMessage
from airlock.integrations.django.outbox.relay import Relay, decode
from tests.outbox.conftest import rows

pytestmark = pytest.mark.django_db

received: list[tuple[tuple[Any, ...], dict[str, Any]]] = []


@outbox.register(name="tests.receive")
def receive(*args: Any, **kwargs: Any) -> None:
    received.append((args, kwargs))


def same(a: Any, b: Any, where: str = "value") -> None:
    """Assert ``a`` and ``b`` are equal and of the same type, recursively."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert len(a) == len(b), where
        for (ka, va), (kb, vb) in zip(a.items(), b.items()):
            same(ka, kb, f"{where} key {ka!r}")
            same(va, vb, f"{where}[{ka!r}]")
    elif isinstance(a, (set, frozenset)):
        assert a == b, where
        theirs = {y: y for y in b}
        for x in a:
            same(x, theirs[x], f"{where} item {x!r}")
    elif isinstance(a, (dt.datetime, dt.time)):
        assert a == b and repr(a) == repr(b), f"{where}: {a!r} != {b!r}"
        assert (a.utcoffset(), a.tzname(), a.fold) == (b.utcoffset(), b.tzname(), b.fold), where
    elif isinstance(a, float):
        assert a == b or (math.isnan(a) and math.isnan(b)), where
        assert math.copysign(1, a) == math.copysign(1, b), where
    else:
        assert a == b and repr(a) == repr(b), f"{where}: {a!r} != {b!r}"


fixed_offsets = st.builds(
    dt.timezone,
    st.timedeltas(min_value=dt.timedelta(hours=-23, minutes=-59),
                  max_value=dt.timedelta(hours=23, minutes=59)),
)  # fmt: skip
zones = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]).map(ZoneInfo)
datetimes = st.one_of(
    st.datetimes(),
    st.datetimes(timezones=fixed_offsets),
    st.datetimes(timezones=zones),
)
times = st.one_of(st.times(), st.times(timezones=fixed_offsets), st.times(timezones=zones))
hashables = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.just(codec.TAG),
    st.decimals(allow_nan=False),
    st.uuids(),
    st.binary(max_size=20),
    st.dates(),
    datetimes,
    times,
    st.timedeltas(),
)
keys = st.recursive(hashables, lambda inner: st.tuples(inner, inner) | st.frozensets(inner))
values = st.recursive(
    hashables,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=5) | st.just(codec.TAG), inner, max_size=4),
        st.dictionaries(keys, inner, max_size=4),
        st.sets(keys, max_size=4),
        st.frozensets(keys, max_size=4),
    ),
    max_leaves=12,
)
names = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)


@pytest.mark.django_db(transaction=True)  # the scope sends at a real commit
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(args=st.lists(values, max_size=4).map(tuple), kwargs=st.dictionaries(names, values))
def test_the_relay_delivers_what_the_in_process_flush_delivers(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    OutboxMessage.objects.all().delete()
    received.clear()
    with airlock.scope(), transaction.atomic():
        airlock.enqueue(receive, *args, **kwargs, _dispatch_options={"durable": True})
    (in_process,) = received
    same(in_process, (args, kwargs))  # what the task got from the flush: the values themselves
    (row,) = rows()
    intent = decode(row.task, row.payload)  # the relay's decode(encode())
    same((intent.args, dict(intent.kwargs)), in_process)
    OutboxMessage.objects.update(status="pending", available_at=timezone.now())
    assert Relay().drain() == 1  # and the relay really sends it again
    same(received[1], in_process)


@given(value=values)
@settings(max_examples=300, deadline=None)
def test_decode_gives_back_what_encode_was_given(value: Any) -> None:
    same(codec.decode(codec.encode(value)), value)


class Colour(enum.IntEnum):
    RED = 1


class Odd(dt.tzinfo):
    def utcoffset(self, d: Any) -> dt.timedelta:
        return dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((object(),), {}, "argument 0 (object) is not a type the outbox keeps"),
        ((1, Colour.RED), {}, "1 (Colour) is a subclass of int: the relay would give back a plain"),
        ((), {"note": mark_safe("<b>")}, "argument 'note' (SafeString) is a subclass of str"),
        ((), {"note": gettext_lazy("Hello")}, "keyword argument 'note' (__proxy__)"),
        (([1, {"a": OrderedDict()}],), {}, "argument 0[1]['a'] (OrderedDict)"),
        (({1: object()},), {}, "argument 0[1] (object)"),
        ((dt.datetime(2030, 1, 1, tzinfo=Odd()),), {}, "argument 0 (datetime) has tzinfo"),
        (
            (dt.datetime(2030, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1), "CET")),),
            {},
            "argument 0 (datetime) has tzinfo",
        ),
    ],
)
def test_a_value_the_relay_could_not_give_back_is_refused_at_enqueue(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with airlock.scope() as scope:
        with pytest.raises(TypeError, match=re.escape(message)):
            airlock.enqueue(receive, *args, **kwargs, _dispatch_options={"durable": True})
        assert scope.intents == []
    assert received == [] and rows() == []


def test_a_value_that_contains_itself_is_refused_at_enqueue() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with airlock.scope(), pytest.raises(TypeError, match="argument 0 refers to itself"):
        airlock.enqueue(receive, loop, _dispatch_options={"durable": True})
    assert rows() == []


def test_the_stored_payload_stays_readable_json() -> None:
    when = dt.datetime(2030, 1, 2, 3, 4, tzinfo=ZoneInfo("Europe/Paris"))
    with airlock.scope():
        airlock.enqueue(receive, Decimal("1.10"), (1, 2), {1: "a"}, when, order=7,
                        _dispatch_options={"durable": True})  # fmt: skip
    payload = rows()[0].payload
    assert '"args":[{"$type":"Decimal","value":"1.10"},{"$type":"tuple","value":[1,2]},' in payload
    assert '{"$type":"dict","value":[[1,"a"]]}' in payload
    assert '{"$type":"datetime","value":"2030-01-02T03:04:00","zone":"Europe/Paris"}' in payload
    assert '"kwargs":{"order":7}' in payload
