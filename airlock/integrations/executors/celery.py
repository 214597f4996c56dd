"""``celery_executor``: send each intent to the broker through Celery's ``apply_async``.

The intent's ``key`` (else its ``id``) becomes the Celery ``task_id``, so the id is known inside
the transaction and a consumer can de-duplicate. Signatures and canvas (``chain``, ``group``,
``chord``) are sent through their own ``apply_async``; a plain function runs synchronously
through ``sync_executor`` (documented fallback), so one executor serves mixed code.

``celery_batch_executor`` (opt-in) sends the same messages, a whole flush at a time: for a
Celery task on a Redis broker it builds each message with Celery's own
``app.amqp.create_task_message`` (protocol 2 headers) and kombu's own producer and channel
steps (``_celery_messages``), so a stock worker reads exactly what ``apply_async`` would have
sent, then pushes them in one Redis transaction per chunk instead of one round trip per
message. Everything else goes through the per-message path: signatures and canvas, plain
functions, tasks whose class overrides ``apply_async``, options the fast path does not know,
non-Redis brokers, and apps with eager mode or sent events. Unlike ``apply_async``, a batch is
never retried on a connection error (that could queue a message twice); a failure raises
``BatchDispatchError`` saying what was sent.

The fast path (``_celery_batch`` and the modules under it) uses Celery's and kombu's internals:
it is imported and used only when ``CELERY_FAST_PATH`` says the installed versions are the
verified ones; otherwise every intent takes ``apply_async``, after one
``UntestedVersionWarning``. This module itself imports only Celery's public API, so
``celery_executor`` works on any Celery 5 the fast path was never checked against.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import weakref
from collections.abc import Callable, Hashable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airlock.integrations._extras import require

with require("celery", __name__):
    from celery.app.task import Task
    from celery.canvas import Signature
    from celery.local import Proxy
    from kombu.exceptions import EncodeError
    from kombu.serialization import dumps as _kombu_dumps

from airlock._intent import Intent
from airlock._sending import _sending
from airlock.executors._base import check_options
from airlock.executors._unsent import name_unsent
from airlock.integrations.executors._batch import CHUNK_SIZE, BatchDispatchError, BatchingExecutor
from airlock.integrations.executors._queues import refuse_coroutine
from airlock.integrations.executors._versions import FastPath
from airlock.integrations.executors.sync import sync_executor
from airlock.typing import SupportsPrepare

__all__ = [
    "CELERY_FAST_PATH",
    "CELERY_OPTIONS",
    "CHUNK_SIZE",
    "SUPPORTED_OPTIONS",
    "CeleryBatchExecutor",
    "CeleryExecutor",
    "absolute_times",
    "celery_batch_executor",
    "celery_executor",
    "check_serializable",
    "send",
    "unproxy",
]

_dumps: Callable[..., Any] = _kombu_dumps  # kombu is untyped
_SYNC_TASKS: weakref.WeakSet[type] = weakref.WeakSet()  # task classes whose run is no coroutine

#: The Celery and kombu releases ``celery_batch_executor``'s fast path was verified against
#: (``make test-matrix`` runs both ends): outside them every intent takes ``apply_async``, with
#: one ``UntestedVersionWarning`` (docs/executors.md). The broker clients have gates of their
#: own (``_celery_route``), checked when a route to the broker is opened.
CELERY_FAST_PATH = FastPath(
    "celery_batch_executor's fast path", {"celery": ("5.3", "5.8"), "kombu": ("5.3", "5.8")}
)


def unproxy(task: Any) -> Any:
    """The task object itself (``@app.task`` before the app is finalized gives a lazy proxy)."""
    return task._get_current_object() if isinstance(task, Proxy) else task


def send(intent: Intent) -> None:
    """Publish one intent: ``task.apply_async(args, kwargs, task_id=key or id, **options)``.

    This is the whole send path; a task without ``apply_async`` runs inline (sync fallback).
    """
    task = intent.task
    apply_async = getattr(task, "apply_async", None)
    if apply_async is None:
        sync_executor(intent)
        return
    options = intent.dispatch_options
    task_id = intent.key or intent.id
    token = _sending.set(True)
    try:
        if "task_id" in options:
            apply_async(intent.args, intent.kwargs, **options)
        else:
            apply_async(intent.args, intent.kwargs, task_id=task_id, **options)
    finally:
        _sending.reset(token)


#: The dispatch options ``celery_executor`` takes: the keyword arguments ``Task.apply_async``
#: passes down to ``app.send_task``, ``app.amqp.create_task_message``, the task sender and
#: kombu's ``Producer.publish`` (Celery 5), and a chord's ``interval``/``max_retries``. Anything
#: else is refused at enqueue (Celery would put an unknown name in the message properties and
#: ignore it). Custom message data goes in ``headers``.
CELERY_OPTIONS = frozenset(
    {
        # Task.apply_async
        "task_id", "producer", "link", "link_error", "shadow", "countdown", "eta", "expires",
        "connection", "retry", "retry_policy", "time_limit", "soft_time_limit", "queue",
        "exchange", "routing_key", "priority", "serializer", "compression", "add_to_parent",
        "ignore_result", "publisher", "headers",
        # app.send_task and create_task_message
        "router", "group_id", "group_index", "retries", "chord", "reply_to", "root_id",
        "parent_id", "route_name", "chain", "replaced_task_nesting", "argsrepr", "kwargsrepr",
        "stamped_headers", "origin",
        # the task sender and kombu's Producer.publish
        "delivery_mode", "exchange_type", "declare", "timeout", "confirm_timeout", "mandatory",
        "immediate", "content_type", "content_encoding", "expiration",
        # chord.apply_async
        "interval", "max_retries",
    }
)  # fmt: skip


@functools.lru_cache(maxsize=256)
def _own_apply_async_options(cls: Any) -> frozenset[str]:
    """The keyword parameters a task class's own ``apply_async`` override declares."""
    method = cls.apply_async
    if method is Task.apply_async:
        return frozenset()
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - a C or odd callable
        return frozenset()
    named = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return frozenset(p.name for p in parameters if p.kind in named) - {"self", "args", "kwargs"}


def check_celery_options(intent: Intent) -> None:
    """Raise ``UnknownOptionError`` for a dispatch option Celery does not take.

    Known: ``CELERY_OPTIONS`` and the keyword parameters of the task class's own
    ``apply_async`` (a task base class may add options of its own).
    """
    options = intent.dispatch_options
    if not options or options.keys() <= CELERY_OPTIONS:
        return
    task: Any = unproxy(intent.task)
    cls: Any = type(task)
    extra = _own_apply_async_options(cls) if isinstance(task, Task) else frozenset()
    check_options(str(intent), "Celery dispatch", options, CELERY_OPTIONS | extra)


def absolute_times(options: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """Celery options with relative ``countdown``/``expires`` turned into absolute datetimes."""
    result = dict(options)
    now = now or datetime.now(timezone.utc)
    if "countdown" in result:
        countdown = result.pop("countdown")
        if "eta" in result:
            raise ValueError(
                "Celery dispatch options have both 'countdown' and 'eta'; give one of them"
            )
        if countdown is not None:
            result["eta"] = now + timedelta(seconds=float(countdown))
    expires = result.get("expires")
    if isinstance(expires, numbers.Real) and not isinstance(expires, bool):
        result["expires"] = now + timedelta(seconds=float(expires))
    return result


def _leaves(sig: Any) -> Iterator[Any]:
    """The single-task signatures inside a (possibly nested) canvas."""
    children = getattr(sig, "tasks", None)
    if children is not None:
        for child in children:
            yield from _leaves(child)
        if sig.get("subtask_type") == "chord":
            yield from _leaves(sig.body)
        return
    yield sig


def _serializer_of(task: Any, options: Mapping[str, Any]) -> str:
    if options.get("serializer"):
        return str(options["serializer"])
    if isinstance(task, Signature):
        if task.options.get("serializer"):
            return str(task.options["serializer"])
        try:
            task = task.type
        except Exception:  # unregistered task name: the app's default applies
            return str(task.app.conf.task_serializer)
    name = getattr(task, "serializer", None)
    if name is None:
        app = getattr(task, "app", None)
        name = app.conf.task_serializer if app is not None else "json"
    return str(name)


# Values every kombu serializer (json, pickle, yaml, msgpack) encodes: no need to try them.
_PLAIN = frozenset({int, str, float, bool, type(None)})


def _plain(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
    plain = _PLAIN
    return all(type(a) in plain for a in args) and all(type(v) in plain for v in kwargs.values())


def check_serializable(
    task: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], options: Mapping[str, Any]
) -> None:
    """Raise ``TypeError`` naming the argument the task's serializer would reject."""
    if isinstance(task, Signature):
        leaves = list(_leaves(task)) or [task]
        for leaf in leaves:
            if not _plain(tuple(leaf.args), leaf.kwargs):
                _check(leaf, tuple(leaf.args), leaf.kwargs, _serializer_of(leaf, options))
        if not _plain(args, kwargs):  # partial arguments given at enqueue go to the first task
            _check(task, args, kwargs, _serializer_of(leaves[0], options))
    elif not _plain(args, kwargs):
        _check(task, args, kwargs, _serializer_of(task, options))


def _check(task: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], serializer: str) -> None:
    try:
        _dumps((args, dict(kwargs)), serializer=serializer)
        return
    except EncodeError as exc:
        whole = exc
    named = [(f"argument {i}", a) for i, a in enumerate(args)] + [
        (f"argument {k!r}", v) for k, v in kwargs.items()
    ]
    for label, value in named:
        try:
            _dumps(value, serializer=serializer)
        except EncodeError as exc:
            raise TypeError(
                f"{_label(task)}: {label} ({type(value).__name__} {value!r:.60}) cannot be "
                f"serialized by Celery's {serializer!r} serializer: {exc}. Pass something it "
                "can encode (e.g. a primary key instead of a model instance) or set the task's "
                "serializer."
            ) from None
    raise TypeError(
        f"{_label(task)}: the arguments cannot be serialized by Celery's {serializer!r} "
        f"serializer: {whole}"
    ) from None


def _label(task: Any) -> str:
    name = task.get("task") if isinstance(task, dict) else getattr(task, "name", None)
    return str(name or getattr(task, "__name__", task))


class CeleryExecutor(SupportsPrepare):
    """Sends intents with Celery; ``prepare`` validates and fixes times at enqueue.

    ``prepare(intent)``: a dispatch option Celery does not take (``CELERY_OPTIONS``, see
    ``known_options``) raises ``UnknownOptionError``; arguments the task's serializer rejects
    raise ``TypeError`` naming the argument; ``countdown`` (and a numeric ``expires``) become
    absolute datetimes, so a late flush does not push the schedule back. Plain functions (they
    run inline) get the option check only.
    """

    known_options = CELERY_OPTIONS

    def __call__(self, intent: Intent) -> None:
        send(intent)

    def prepare(self, intent: Intent) -> Intent:
        check_celery_options(intent)
        task = unproxy(intent.task)
        if not isinstance(task, (Task, Signature)):
            return intent  # plain function (runs inline) or an already checked wrapper
        if isinstance(task, Task) and type(task) not in _SYNC_TASKS:
            refuse_coroutine(intent, task.run, "Celery")
            _SYNC_TASKS.add(type(task))  # each @app.task is a class of its own
        options = intent.dispatch_options
        check_serializable(task, intent.args, intent.kwargs, options)
        if "countdown" in options or "expires" in options:
            return intent.replace(dispatch_options=absolute_times(options))
        return intent

    def __repr__(self) -> str:
        return "celery_executor"


celery_executor = CeleryExecutor()
"""The Celery executor instance to configure: ``AIRLOCK = {"EXECUTOR": "...celery_executor"}``."""


# The batched variant: one connection and one MULTI/EXEC per chunk of a flush, on Redis.

#: Dispatch options the fast path encodes itself; any other option sends that intent alone.
SUPPORTED_OPTIONS = frozenset(
    {
        "queue",
        "countdown",
        "eta",
        "expires",
        "priority",
        "time_limit",
        "soft_time_limit",
        "ignore_result",
        "serializer",
        "compression",
        "headers",
        "delivery_mode",
        "task_id",
    }
)
_UNSEEN = object()


class CeleryBatchExecutor(BatchingExecutor, CeleryExecutor):
    """``celery_executor`` that sends a whole flush to a Redis broker in a few round trips.

    Same ``prepare`` (argument check, absolute times) and the same messages as
    ``celery_executor``; intents are recorded when called and published in ``after_flush``.
    On failure it raises ``BatchDispatchError`` (``sent`` / ``unsent`` / ``in_doubt``).
    ``chunk_size`` messages go in each Redis transaction (on RabbitMQ: each wait for
    publisher confirms, at most ``confirm_timeout`` seconds). With a Celery or kombu outside
    ``CELERY_FAST_PATH``'s range, every intent goes through ``apply_async`` (one warning).
    """

    single_batches = True  # one intent: the fast path still beats apply_async

    def __init__(self, chunk_size: int = CHUNK_SIZE, confirm_timeout: float = 30.0) -> None:
        super().__init__(chunk_size)
        self.confirm_timeout = confirm_timeout

    def batch_groups(self, intents: list[Intent]) -> list[Hashable | None]:
        if not CELERY_FAST_PATH.enabled():  # an unverified Celery or kombu: apply_async
            return [None] * len(intents)
        from airlock.integrations.executors._celery_batch import task_app

        apps: dict[int, Any] = {}  # per flush: settings may change between flushes
        groups: list[Hashable | None] = []
        supported = SUPPORTED_OPTIONS
        for intent in intents:
            task = unproxy(intent.task)
            app = apps.get(id(task), _UNSEEN)
            if app is _UNSEEN:
                app = apps[id(task)] = task_app(task)
            options = intent.dispatch_options
            groups.append(app if app is not None and options.keys() <= supported else None)
        return groups

    def send_one(self, intent: Intent) -> None:
        send(intent)

    def publish_batch(self, group: Any, intents: list[Intent]) -> None:
        from airlock.integrations.executors._celery_batch import publish

        publish(self, group, intents)

    def publish_one_by_one(self, intents: list[Intent]) -> None:
        """``apply_async`` for each intent, in order; a failure says what was sent."""
        for index, intent in enumerate(intents):
            try:
                send(intent)
            except Exception as exc:
                raise BatchDispatchError.build(
                    exc, sent=intents[:index], unsent=intents[index:]
                ) from exc
            except BaseException as exc:  # an interrupt: the ones before it went
                name_unsent(exc, intents[:index], intents)
                raise

    def __repr__(self) -> str:
        return "celery_batch_executor"


celery_batch_executor = CeleryBatchExecutor()
"""Batched Celery executor: ``AIRLOCK = {"EXECUTOR": "...celery.celery_batch_executor"}``."""
