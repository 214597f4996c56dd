"""dramatiq's ``RedisBroker``: a chunk of a flush in ONE call of one Lua script.

``RedisBroker.enqueue`` prepares a message (a fresh ``redis_message_id``; for a delayed one the
delay queue and ``eta``; middleware ``before_enqueue``; ``_dramatiq_messages`` does the same, and
stamps later messages of a run from the first one's text), then calls the broker's ``dispatch`` Lua
script once, with the command ``enqueue``. Here every message of a chunk is prepared the same way,
then ONE script runs dramatiq's own ``dispatch`` script (its text, taken from the installed
broker) once per message, server side: the same keys, the same writes, the same heartbeat and
maintenance as that many ``enqueue`` calls. Each message's call is wrapped in ``pcall``, so one
refused message (e.g. WRONGTYPE) is reported alone; middleware ``after_enqueue`` runs for each
message once its chunk's reply is in.

The script goes over a connection of the broker's pool directly (``send_command`` /
``read_response``), never through redis-py's retrying ``execute_command``: a reply lost after the
script ran must be reported in doubt, not run again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airlock.integrations._extras import require

with require("dramatiq", __name__):
    from dramatiq.common import current_millis

from airlock._intent import Intent
from airlock.exceptions import BatchDispatchError
from airlock.executors._unsent import naming_unsent
from airlock.integrations.executors._batch import pooled_connection
from airlock.integrations.executors._dramatiq_messages import Built, Messages
from airlock.integrations.executors._versions import FastPath

__all__ = ["REDIS_FAST_PATH", "publish"]

#: dramatiq and redis-py releases whose ``RedisBroker.enqueue`` / dispatch script this copies.
REDIS_FAST_PATH = FastPath(
    "dramatiq_batch_executor's Redis fast path",
    {"dramatiq": ("1.15", "2.3"), "redis": ("5.0", "8.2")},
)

# ARGV: broker_id, heartbeat_timeout, dead_message_ttl, max_unpack_size, timestamp, then per
# message: queue_name, do_maintenance, redis_message_id, encoded message. Returns one string per
# message: "" when its dispatch ran, else the error it raised.
_WRAPPER = """
local function dispatch(KEYS, ARGV)
%s
end
local keys = {KEYS[1]}
local results = {}
for i = 6, #ARGV, 4 do
    local ok, err = pcall(dispatch, keys, {
        "enqueue", ARGV[5], ARGV[i], ARGV[1], ARGV[2], ARGV[3], ARGV[i + 1], ARGV[4],
        ARGV[i + 2], ARGV[i + 3]})
    if ok then
        results[#results + 1] = ""
    else
        if type(err) == "table" then err = err.err or err.message end
        results[#results + 1] = "ERR " .. tostring(err)
    end
end
return results
"""

_SCRIPTS: dict[str | bytes, tuple[str, str]] = {}  # dispatch script text -> (wrapper, its sha1)


def _script(broker: Any) -> tuple[str, str]:
    source = broker.scripts["dispatch"].script  # str or bytes, by redis-py version
    cached = _SCRIPTS.get(source)
    if cached is None:
        import hashlib

        body = source.decode() if isinstance(source, bytes) else source
        text = _WRAPPER % body
        cached = _SCRIPTS[source] = (text, hashlib.sha1(text.encode()).hexdigest())
    return cached


class Unsent(Exception):
    """The chunk certainly did not run (``__cause__`` says why)."""


class InDoubt(Exception):
    """The chunk may have run: the connection broke after the command left."""


def publish(
    broker: Any,
    intents: list[Intent],
    message_of: Callable[[Intent], tuple[Any, int | None]],
    chunk_size: int,
    *,
    stamp: bool = True,
) -> None:
    """Publish ``intents`` (actors of ``broker``) one script call per ``chunk_size`` messages.

    ``message_of`` is ``dramatiq_executor.message``; later messages of a run are stamped from
    the first one's text (``_dramatiq_messages``) unless ``stamp`` is false.
    Raises ``BatchDispatchError`` naming what was sent, unsent and in doubt; nothing is retried.
    """
    messages = Messages(broker, "redis", message_of, stamp=stamp)
    build = messages.build
    maintenance = broker._should_do_maintenance
    sent: list[Intent] = []
    with naming_unsent(sent, intents):  # an interrupt: the chunks confirmed before it went
        for start in range(0, len(intents), chunk_size):
            built: list[tuple[Intent, Built]] = []
            argv: list[Any] = []
            for index, intent in enumerate(intents[start : start + chunk_size]):
                try:
                    message = build(intent)
                except Exception as exc:
                    _run(broker, sent, built, argv, intents)  # what came before goes first
                    raise BatchDispatchError.build(
                        exc, sent=sent, unsent=intents[start + index :]
                    ) from exc
                argv += [message.queue_name, maintenance("enqueue"), message.redis_id, message.body]
                built.append((intent, message))
            _run(broker, sent, built, argv, intents)


def _run(
    broker: Any,
    sent: list[Intent],
    built: list[tuple[Intent, Built]],
    argv: list[Any],
    intents: list[Intent],
) -> None:
    """Run one chunk; extend ``sent``. Raise ``BatchDispatchError`` unless every message landed."""
    if not built:
        return
    chunk = [intent for intent, _ in built]
    rest = intents[len(sent) + len(chunk) :]
    header = [broker.broker_id, broker.heartbeat_timeout, broker.dead_message_ttl]
    header += [broker._max_unpack_size(), current_millis()]
    try:
        results = _call(broker, _script(broker), header + argv)
    except Unsent as exc:
        cause = exc.__cause__ or exc
        raise BatchDispatchError.build(cause, sent=sent, unsent=chunk + rest) from cause
    except InDoubt as exc:
        cause = exc.__cause__ or exc
        raise BatchDispatchError.build(cause, sent=sent, unsent=rest, in_doubt=chunk) from cause
    if len(results) != len(built):  # not our script's answer: cannot tell what ran
        cause = RuntimeError(f"{len(results)} results for {len(built)} messages")
        raise BatchDispatchError.build(cause, sent=sent, unsent=rest, in_doubt=chunk)
    failed: list[tuple[Intent, Exception]] = []
    for (intent, message), result in zip(built, results, strict=True):
        if result:
            failed.append((intent, _refused(result)))
        else:
            sent.append(intent)
            if message.message is not None:  # for middleware after_enqueue hooks
                broker.emit_after("enqueue", message.message, message.delay)
    if failed:
        raise BatchDispatchError.build(
            failed[0][1],
            sent=sent,
            unsent=[i for i, _ in failed] + rest,
            errors=[*failed, *((i, failed[0][1]) for i in rest)],
        )


def _refused(result: Any) -> Exception:
    import redis.exceptions

    text = result.decode(errors="replace") if isinstance(result, bytes) else str(result)
    return redis.exceptions.ResponseError(text.removeprefix("ERR "))


def _call(broker: Any, script: tuple[str, str], argv: list[Any]) -> list[Any]:
    """EVALSHA on one pooled connection, no retry; loads the script on NOSCRIPT (not run).

    Raises ``Unsent`` or ``InDoubt`` (the cause chained) on failure.
    """
    import redis.exceptions as errors

    text, sha = script
    pool = broker.client.connection_pool
    try:
        connection = pooled_connection(pool)
    except Exception as exc:
        raise Unsent from exc
    healthy = False
    try:
        for _ in range(2):
            try:
                connection.send_command("EVALSHA", sha, 1, broker.namespace, *argv)
            except Exception as exc:  # part of the command may have left: in doubt
                raise InDoubt from exc
            try:
                reply = connection.read_response()
            except errors.NoScriptError:  # not run: load it, then once more
                try:
                    connection.send_command("SCRIPT", "LOAD", text)
                    connection.read_response()
                except Exception as exc:
                    raise Unsent from exc
                continue
            except errors.ResponseError as exc:  # the script did not run (e.g. BUSY)
                healthy = True
                raise Unsent from exc
            except Exception as exc:  # the reply was lost: ran or not, we cannot tell
                raise InDoubt from exc
            healthy = True
            return list(reply)
        raise Unsent from errors.NoScriptError("the script vanished right after SCRIPT LOAD")
    finally:
        if not healthy:
            connection.disconnect()
        pool.release(connection)
