"""The row payload: which intents are durable, the JSON text a row keeps, and reading it back.

``encode(intent)`` writes the payload (``codec`` keeps each argument's exact type);
``decode(reference, payload)`` rebuilds the intent, raising ``BadRow`` for anything not as
written, so a relay parks a corrupted row as dead instead of guessing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from airlock._intent import Intent
from airlock._outbox import codec, registry
from airlock._outbox.settings import OutboxSettings
from airlock.exceptions import BadRow
from airlock.integrations import _propagation

__all__ = ["FORMAT", "decode", "encode", "is_durable", "ordering_key"]

FORMAT = 2  # payloads without "v" are format 1: plain JSON (dates, decimals... as strings)

# Dispatch options that executors expect as datetimes; format 1 rows hold them as strings.
DATETIME_OPTIONS = ("eta", "expires", "run_after")


def is_durable(intent: Intent, settings: OutboxSettings) -> bool:
    """True if ``intent`` goes through the outbox: it has an ``ordering_key``, else its
    ``durable`` option, else the setting."""
    if intent.dispatch_options.get("ordering_key") is not None:
        return True
    choice = intent.dispatch_options.get("durable")
    if choice is not None:
        return bool(choice)
    durable = settings.durable
    if isinstance(durable, bool):
        return durable
    if intent.name in durable or registry.name_of(intent.task) in durable:
        return True
    full = getattr(intent.task, "name", None)
    return isinstance(full, str) and full in durable


def ordering_key(intent: Intent) -> str | None:
    """The intent's ordering key, checked: ``TypeError`` unless a string of 1 to 255
    characters, ``ValueError`` with ``durable: False``."""
    key = intent.dispatch_options.get("ordering_key")
    if key is None:
        return None
    if not isinstance(key, str) or not 0 < len(key) <= 255:
        raise TypeError(
            f"intent {intent}: ordering_key must be a string of 1 to 255 characters, got {key!r}"
        )
    if intent.dispatch_options.get("durable") is False:
        raise ValueError(
            f"intent {intent}: an ordering_key needs the outbox, so durable=False cannot go "
            "with it (only the relay keeps a key's rows in order)"
        )
    return key


def encode(intent: Intent) -> str:
    """The row payload: JSON text that ``decode`` turns back into the same arguments.

    ``TypeError`` naming the argument (and where inside it) that the codec cannot keep.
    """
    options = intent.dispatch_options
    body = {
        "v": FORMAT,
        "args": [_keep(intent, v, "argument {}", i) for i, v in enumerate(intent.args)],
        "kwargs": {
            k: _keep(intent, v, "keyword argument {!r}", k) for k, v in intent.kwargs.items()
        },
        "options": {
            k: _keep(intent, v, "dispatch option {!r}", k)
            for k, v in options.items()
            if k not in ("durable", "ordering_key")  # the ordering key has its own column
        },
        "name": intent.given_name,
        "origin": intent.origin,
        "key": intent.key,
        "id": intent.id,
    }
    trace = _propagation.carrier()  # the enqueue-time trace context, when instrumented
    if trace:
        body["trace"] = trace
    return json.dumps(body, separators=(",", ":"))


def _keep(intent: Intent, value: Any, label: str, key: Any) -> Any:
    try:
        return codec.encode(value, "")
    except codec.Unsupported as exc:
        exc.path.insert(0, label.format(key))
        raise TypeError(_refused(intent, str(exc))) from exc
    except RecursionError:
        where = label.format(key)
        raise TypeError(
            _refused(intent, f"{where} refers to itself or is nested too deeply")
        ) from None


def _refused(intent: Intent, what: str) -> str:
    return (
        f"durable intent {intent}: {what}, so it cannot be stored in the outbox. The outbox keeps "
        "JSON types and Decimal, datetime, date, time, timedelta, UUID, bytes, tuple, set, "
        "frozenset and dicts with such keys, exactly (no subclasses), so that the relay hands "
        "the task what the in-process flush would: pass ids or plain values instead."
    )


def decode(
    reference: str,
    payload: str,
    parse_datetime: Callable[[str], datetime | None] | None = None,
) -> tuple[Intent, dict[str, Any]]:
    """The intent a row stores and the payload's JSON object; ``BadRow`` when anything in it is
    not as written. ``parse_datetime`` reads the time options of format 1 rows (Django's)."""
    try:
        task = registry.resolve(reference)
    except registry.UnknownTask as exc:
        raise BadRow(str(exc)) from None
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise BadRow(f"payload is not valid JSON ({exc}); the row was corrupted or edited") from (
            None
        )
    if not isinstance(body, dict):
        raise BadRow("payload is not a JSON object; the row was corrupted or edited")
    args, kwargs, options = body.get("args"), body.get("kwargs"), body.get("options")
    if not isinstance(args, list) or not isinstance(kwargs, dict) or not isinstance(options, dict):
        raise BadRow("payload lacks args (list), kwargs (object) or options (object)")
    for name in ("name", "origin", "key", "id"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise BadRow(f"payload field {name!r} is not a string")
    if not isinstance(body.get("id"), str):
        raise BadRow("payload has no intent id")
    version = body.get("v", 1)
    if version == FORMAT:
        try:
            args, kwargs, options = codec.decode(args), codec.decode(kwargs), codec.decode(options)
        except (ValueError, RecursionError) as exc:
            raise BadRow(f"payload does not decode ({exc}); the row was corrupted or edited") from (
                None
            )
    elif version == 1 and parse_datetime is not None:  # before the codec: plain JSON
        for opt in DATETIME_OPTIONS:
            if isinstance(options.get(opt), str):
                parsed = parse_datetime(options[opt])
                if parsed is not None:
                    options[opt] = parsed
    else:
        raise BadRow(f"payload format {version!r} is unknown (written by a newer airlock?)")
    intent = Intent(
        task=task,
        args=tuple(args),
        kwargs=kwargs,
        name=body.get("name"),
        origin=body.get("origin"),
        dispatch_options=options,
        key=body.get("key"),
        id=body["id"],
    )
    return intent, body
