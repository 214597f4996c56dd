"""OpenTelemetry for airlock: spans, trace propagation and metrics, built from airlock's events.

``instrument()`` subscribes to ``airlock._events`` and installs the propagation hooks;
``uninstrument()`` removes both. Uses ``opentelemetry-api`` only (extra ``otel``): the
application configures the SDK and exporters. Nothing here is imported by ``import airlock``.

- A span ``airlock scope`` per scope that buffers an intent, started at its first enqueue under
  the span current there (the request's), ended when its last intent has a fate (so fates
  decided at commit or rollback are recorded on it). Each enqueue is a span event
  ``airlock.enqueue``; fates without a send (dropped, discarded, rolled back) are span events
  ``airlock.fate``.
- A ``PRODUCER`` span ``send <task name>`` per dispatched or failed intent, child of the scope
  span, with ``airlock.fate`` and the messaging attributes. Where a backend carries headers
  the span starts before the message leaves and its context travels with it (W3C
  ``traceparent``: Celery and django-q2 through their publish signals, webhook, Lambda and
  dramatiq through ``_propagation``), so the consumer's span joins the request's trace.
- Outbox rows store the enqueue-time context; the relay's send span is its child (parent, not
  link: one row is one intent, and the trace should show what became of the request's work).
- Metrics: ``airlock.intents`` (counter by ``airlock.fate`` and ``airlock.task.name``),
  ``airlock.dispatch.delay`` (histogram, enqueue to hand-over, seconds) and, with the outbox
  installed, ``airlock.outbox.pending`` / ``airlock.outbox.oldest_age`` (observable gauges);
  ``airlock.inbox.duplicates`` (counter by ``airlock.task.name``): redeliveries an apply-once
  task skipped (the inbox's ``message_duplicate`` signal).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from airlock.integrations._extras import require

with require("otel", __name__):
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, propagate, trace
    from opentelemetry.metrics import CallbackOptions, Observation

from airlock import _events
from airlock._intent import Intent
from airlock.integrations import _otel_receivers as _receivers
from airlock.integrations import _propagation

__all__ = ["DJANGO_Q_KEY", "ENQUEUED_AT", "instrument", "is_instrumented", "uninstrument"]

#: The carrier key an outbox row keeps its enqueue time under (Unix seconds, text).
ENQUEUED_AT = "airlock-enqueued-at"
#: The key of a django-q2 task package that carries the trace context (``pre_execute`` sees it).
DJANGO_Q_KEY = "trace_context"
_NAME = "airlock"
_LATER = (_events.DROPPED, _events.DISCARDED, _events.ROLLED_BACK)


@dataclass
class _Scope:
    key: int  # id() of the airlock scope
    span: trace.Span
    pending: int = 0


@dataclass
class _Intent:
    intent: Intent
    scope: _Scope | None  # None for a relayed intent
    enqueued: float  # time.time()
    parent: otel_context.Context | None = None  # relayed: the stored enqueue-time context
    span: trace.Span | None = field(default=None)  # started when a header was injected


class _Instrumentation:
    """The listener and propagation hooks; one is installed at a time."""

    def __init__(self, tracer_provider: Any, meter_provider: Any, outbox: bool) -> None:
        self.tracer = trace.get_tracer(_NAME, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_NAME, meter_provider=meter_provider)
        self.intents = meter.create_counter(
            "airlock.intents", unit="{intent}", description="Intents by fate and task name"
        )
        self.duplicates = meter.create_counter(
            "airlock.inbox.duplicates",
            unit="{message}",
            description="Redeliveries an apply-once task skipped",
        )
        self.delay = meter.create_histogram(
            "airlock.dispatch.delay",
            unit="s",
            description="Time from enqueue to hand-over to the executor",
        )
        if outbox:
            meter.create_observable_gauge(
                "airlock.outbox.pending",
                callbacks=[self._pending],
                unit="{message}",
                description="Outbox rows waiting to be sent",
            )
            meter.create_observable_gauge(
                "airlock.outbox.oldest_age",
                callbacks=[self._oldest],
                unit="s",
                description="Age of the oldest pending outbox row",
            )
        self.lock = threading.Lock()
        self.scopes: dict[int, _Scope] = {}  # id(scope) -> its span
        self.states: dict[str, _Intent] = {}  # intent id -> state until its fate
        self.messages: dict[str, str] = {}  # message id (key or id) -> intent id

    # -- events -------------------------------------------------------------------------------
    def on_event(self, event: str, intent: Intent, scope: Any, detail: Any) -> None:
        if event == _events.ENQUEUED:
            self._enqueued(intent, scope)
        elif event == _events.CAPTURED:
            self._captured(intent, scope)
        elif event in (_events.DISPATCHED, _events.FAILED):
            state = self._pop(intent)
            self._sent(intent, state, event, detail, scope)
            self._release(state)
        elif event in _LATER:
            state = self._pop(intent)
            if state is not None and state.scope is not None:
                attributes = {"airlock.intent.id": intent.id, "airlock.fate": event}
                if detail is not None:
                    attributes["airlock.fate.reason"] = str(detail)
                state.scope.span.add_event("airlock.fate", attributes)
            self.intents.add(1, {"airlock.fate": event, "airlock.task.name": intent.name})
            self._release(state)

    def _scope(self, scope: Any) -> _Scope:
        entry = self.scopes.get(id(scope))
        if entry is None:
            span = self.tracer.start_span(
                "airlock scope", attributes={"airlock.scope.type": type(scope).__name__}
            )
            entry = self.scopes[id(scope)] = _Scope(id(scope), span)
        return entry

    def _enqueued(self, intent: Intent, scope: Any) -> None:
        with self.lock:
            entry = self._scope(scope)
            entry.pending += 1
            self.states[intent.id] = _Intent(intent, entry, time.time())
            self.messages[intent.key or intent.id] = intent.id
        attributes = {"airlock.intent.id": intent.id, "airlock.intent.name": intent.name}
        if intent.origin is not None:
            attributes["airlock.intent.origin"] = intent.origin
        if intent.key is not None:
            attributes["airlock.intent.key"] = intent.key
        entry.span.add_event("airlock.enqueue", attributes)

    def _captured(self, intent: Intent, outer: Any) -> None:
        with self.lock:
            state = self.states.get(intent.id)
            if state is None or state.scope is None:
                return
            entry = self._scope(outer)
            entry.pending += 1
            previous, state.scope = state.scope, entry
        entry.span.add_event("airlock.capture", {"airlock.intent.id": intent.id})
        self._release_scope(previous)

    def _pop(self, intent: Intent) -> _Intent | None:
        with self.lock:
            state = self.states.pop(intent.id, None)
            if state is not None:
                self.messages.pop(intent.key or intent.id, None)
            return state

    def _release(self, state: _Intent | None) -> None:
        if state is not None and state.scope is not None:
            self._release_scope(state.scope)

    def _release_scope(self, entry: _Scope) -> None:
        with self.lock:
            entry.pending -= 1
            if entry.pending:
                return
            if self.scopes.get(entry.key) is entry:
                del self.scopes[entry.key]
        entry.span.end()

    # -- dispatch spans -----------------------------------------------------------------------
    def _start_send(self, state: _Intent | None, intent: Intent) -> trace.Span:
        links = []
        if state is not None and state.parent is not None:
            parent = state.parent  # relayed: the enqueue-time context stored with the row
            here = trace.get_current_span().get_span_context()
            if here.is_valid:  # the relay's own span, if it has one
                links.append(trace.Link(here))
        elif state is not None and state.scope is not None:
            parent = trace.set_span_in_context(state.scope.span)
        else:
            parent = None
        options = intent.dispatch_options
        attributes: dict[str, Any] = {
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "messaging.message.id": intent.key or intent.id,
            "airlock.intent.id": intent.id,
            "airlock.task.name": intent.name,
        }
        queue = options.get("queue")
        if isinstance(queue, str):
            attributes["messaging.destination.name"] = queue
        return self.tracer.start_span(
            f"send {intent.name}",
            context=parent,
            kind=trace.SpanKind.PRODUCER,
            attributes=attributes,
            links=links,
        )

    def _sent(
        self, intent: Intent, state: _Intent | None, fate: str, detail: Any, scope: Any
    ) -> None:
        span = state.span if state is not None and state.span is not None else None
        if span is None:
            span = self._start_send(state, intent)
        span.set_attribute("airlock.fate", fate)
        if state is not None and state.parent is not None:
            span.set_attribute("airlock.relayed", True)
        executor = detail if fate == _events.DISPATCHED else getattr(scope, "executor", None)
        system = _system(executor)
        if system is not None:
            span.set_attribute("messaging.system", system)
        if fate == _events.FAILED and isinstance(detail, BaseException):
            span.record_exception(detail)
            span.set_status(trace.StatusCode.ERROR, f"{type(detail).__name__}: {detail}")
        span.end()
        self.intents.add(1, {"airlock.fate": fate, "airlock.task.name": intent.name})
        if fate == _events.DISPATCHED and state is not None:
            delay = max(time.time() - state.enqueued, 0.0)
            self.delay.record(delay, {"airlock.task.name": intent.name})

    # -- propagation hooks (airlock.integrations._propagation) --------------------------------
    def inject(self, intent: Intent, headers: MutableMapping[str, str]) -> None:
        self._inject(self.states.get(intent.id), intent, headers)

    def _inject(
        self, state: _Intent | None, intent: Intent, headers: MutableMapping[str, str]
    ) -> None:
        if state is None:
            return  # not a message airlock is sending: leave it to other instrumentation
        if state.span is None:
            state.span = self._start_send(state, intent)
        propagate.inject(headers, context=trace.set_span_in_context(state.span))

    def carrier(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        propagate.inject(headers)
        if headers:
            headers[ENQUEUED_AT] = repr(time.time())
        return headers

    def restore(self, intent: Intent, carrier: Mapping[str, str]) -> None:
        try:
            enqueued = float(carrier.get(ENQUEUED_AT, ""))
        except ValueError:
            enqueued = time.time()
        state = _Intent(intent, None, enqueued, parent=propagate.extract(carrier))
        with self.lock:
            self.states[intent.id] = state
            self.messages[intent.key or intent.id] = intent.id

    def relayed(self, intent: Intent, fate: str, detail: Any) -> None:
        state = self._pop(intent)
        if state is not None:
            self._sent(intent, state, fate, detail, None)

    def celery_publish(self, sender: Any = None, headers: Any = None, **_: Any) -> None:
        """Celery's ``before_task_publish``: put the context in the message airlock sends."""
        if not isinstance(headers, dict):
            return
        intent_id = self.messages.get(str(headers.get("id")))
        state = self.states.get(intent_id) if intent_id is not None else None
        if state is not None:
            self._inject(state, state.intent, headers)

    def django_q_enqueue(self, sender: Any = None, task: Any = None, **_: Any) -> None:
        """django-q2's ``pre_enqueue``: put the context in the task package airlock sends."""
        if not isinstance(task, dict):
            return
        intent_id = self.messages.get(str(task.get("name")))
        state = self.states.get(intent_id) if intent_id is not None else None
        if state is not None:
            carrier: dict[str, str] = {}
            self._inject(state, state.intent, carrier)
            task[DJANGO_Q_KEY] = carrier

    def inbox_duplicate(self, sender: Any = None, **_: Any) -> None:
        """The inbox's ``message_duplicate``: count it by task name."""
        self.duplicates.add(1, {"airlock.task.name": str(sender)})

    # -- outbox gauges ------------------------------------------------------------------------
    def _backlog(self) -> tuple[int, float | None]:
        from django.db.models import Min
        from django.utils import timezone

        from airlock.integrations.django.outbox.models import OutboxMessage

        rows = OutboxMessage.objects.filter(status="pending")
        found = rows.aggregate(oldest=Min("created_at"))
        count = rows.count()
        oldest = found["oldest"]
        age = (timezone.now() - oldest).total_seconds() if oldest is not None else None
        return count, age

    def _pending(self, options: CallbackOptions) -> Iterable[Observation]:
        count, _ = self._backlog()
        return [Observation(count)]

    def _oldest(self, options: CallbackOptions) -> Iterable[Observation]:
        _, age = self._backlog()
        return [Observation(age if age is not None else 0.0)]


def _system(executor: Any) -> str | None:
    """``messaging.system`` for one of airlock's executors (``celery``, ``webhook``...)."""
    module = type(executor).__module__ or ""
    for prefix in ("airlock.integrations.executors.", "airlock.executors."):
        if module.startswith(prefix):
            return module[len(prefix) :].lstrip("_")
    return None


_installed: _Instrumentation | None = None
_undo: list[Any] = []
_install_lock = threading.Lock()


def instrument(
    tracer_provider: Any = None, meter_provider: Any = None, *, outbox: bool | None = None
) -> None:
    """Start tracing and measuring airlock (idempotent: a second call changes nothing).

    ``tracer_provider`` / ``meter_provider``: defaults are the global ones. ``outbox``: report
    the outbox backlog gauges; by default when ``airlock.integrations.django.outbox`` is an
    installed Django app. Celery and django-q2 messages get the trace context when those are
    installed (django-q2: when Django's apps are loaded by then).
    """
    global _installed
    with _install_lock:
        if _installed is not None:
            return
        if outbox is None:
            outbox = _receivers.outbox_installed()
        hooks = _Instrumentation(tracer_provider, meter_provider, outbox)
        _undo.append(_events.subscribe(hooks.on_event))
        _propagation.hooks = hooks
        _undo.append(_clear_hooks)
        _undo.extend(_receivers.connect(hooks))
        _installed = hooks


def uninstrument() -> None:
    """Stop: remove the event listener, the propagation hooks and the Celery receiver."""
    global _installed
    with _install_lock:
        while _undo:
            _undo.pop()()
        _installed = None


def is_instrumented() -> bool:
    """True between ``instrument()`` and ``uninstrument()``."""
    return _installed is not None


def _clear_hooks() -> None:
    _propagation.hooks = None
