"""Shared by the batched executors: record intents during a flush, publish in ``after_flush``.

A batched executor's ``__call__`` only records the intent (per context, so concurrent flushes in
other threads, greenlets or asyncio tasks never mix); ``after_flush()`` then walks the recorded
intents in order, hands runs of batchable ones to the backend's ``publish_batch`` and sends the
others one by one. Whatever fails, the ``BatchDispatchError`` it raises says which intents reached
the broker (``sent``), which did not (``unsent``) and which may have (``in_doubt``). Nothing is
retried here, so nothing is sent twice by airlock itself.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from contextvars import ContextVar
from typing import Any, TypeAlias

from airlock._dispatch import held, holding
from airlock._intent import Intent
from airlock.exceptions import BatchDispatchError
from airlock.executors._unsent import name_unsent, naming_unsent
from airlock.typing import SupportsAfterFlush

__all__ = [
    "CHUNK_SIZE",
    "BatchDispatchError",
    "BatchingExecutor",
    "Built",
    "Commands",
    "NotBatchable",
    "execute_pipeline",
    "pooled_connection",
    "publish_in_transactions",
    "refused",
]

#: Messages per Redis transaction in a batched flush (the batched executors' default).
CHUNK_SIZE = 1000

#: Redis commands that queue one message: ``[(method name, args), ...]``; the first one is the
#: message itself (e.g. an LPUSH), any others are bookkeeping (e.g. PEXPIRE).
Commands: TypeAlias = list[tuple[str, tuple[Any, ...]]]
Built: TypeAlias = list[tuple[Intent, Any, Any]]  # (intent, its Commands or payload, note)


class NotBatchable(Exception):
    """Raised by ``build`` steps for an intent the fast path cannot encode: send it alone."""


class BatchingExecutor(SupportsAfterFlush):
    """Base class: ``__call__`` records, ``after_flush`` publishes. Subclasses define three hooks.

    ``batch_groups(intents)``: for each intent, a hashable naming the connection a run can
    share, or ``None`` to send that intent alone with ``send_one``.
    ``publish_batch(group, intents)``: publish a run of intents of one group; on failure raise
    ``BatchDispatchError`` (any other exception means nothing of the run was published).
    ``send_one(intent)``: the per-message path.
    If ``after_flush`` is never called (a scope class that skips it), nothing is sent.
    A run of one intent goes to ``send_one`` unless ``single_batches`` is true (a backend
    whose batched path is cheaper than its per-message path even for one message).
    """

    single_batches = False
    buffers = True  # what it records goes out in after_flush (batching() refuses to wrap it)

    def __init__(self, chunk_size: int = CHUNK_SIZE) -> None:
        self.chunk_size = chunk_size  # messages per Redis transaction
        self._pending: ContextVar[list[Intent] | None] = ContextVar(
            f"airlock_batch_{type(self).__name__}_{id(self):x}", default=None
        )

    def __call__(self, intent: Intent) -> None:
        pending: list[Intent] = holding(self, self._pending, list)
        pending.append(intent)

    def batch_groups(self, intents: list[Intent]) -> list[Hashable | None]:
        raise NotImplementedError

    def publish_batch(self, group: Any, intents: list[Intent]) -> None:
        raise NotImplementedError

    def send_one(self, intent: Intent) -> None:
        raise NotImplementedError

    def pending(self) -> list[Intent]:
        """Intents recorded in this flush (or context) and not yet published."""
        return list(held(self, self._pending) or ())

    def after_flush(self) -> None:
        """Publish what this flush recorded, in order; raise ``BatchDispatchError`` on failure."""
        intents = held(self, self._pending, take=True)
        if intents:
            self.publish_all(intents)

    def publish_all(self, intents: list[Intent]) -> None:
        """Publish ``intents`` now: runs of one group together, the rest one by one, in order."""
        sent: list[Intent] = []
        groups = self.batch_groups(intents)
        start = 0
        total = len(intents)
        while start < total:
            group = groups[start]
            end = start + 1
            if group is not None:
                while end < total and groups[end] == group:
                    end += 1
            run = intents[start:end]
            try:
                if group is None or (len(run) == 1 and not self.single_batches):
                    self.send_one(run[0])
                else:
                    self.publish_batch(group, run)
            except BatchDispatchError as exc:
                raise BatchDispatchError.build(
                    exc,
                    sent=sent + exc.sent,
                    unsent=exc.unsent + intents[end:],
                    in_doubt=exc.in_doubt,
                    errors=[*exc.errors, *((i, exc) for i in intents[end:])],
                ) from exc
            except Exception as exc:
                raise BatchDispatchError.build(exc, sent=sent, unsent=intents[start:]) from exc
            except BaseException as exc:  # an interrupt: it goes on, saying what was not sent
                name_unsent(exc, sent, run, intents[end:], owner=self, went=sent)
                raise
            sent += run
            start = end


def publish_in_transactions(
    client: Any,
    intents: list[Intent],
    build: Callable[[Intent], tuple[Commands, Any]],
    send_one: Callable[[Intent], object],
    *,
    chunk_size: int,
    on_sent: Callable[[list[Any]], object] | None = None,
    run_chunk: Callable[[Built], object] | None = None,
) -> None:
    """Queue ``intents`` on a Redis ``client``, one MULTI/EXEC per ``chunk_size`` messages.

    ``run_chunk(built)``, when given, publishes a chunk instead (another broker's batch, e.g.
    AMQP with publisher confirms; ``client`` is then unused): like ``run_transaction`` it
    returns once every message of the chunk is confirmed, else raises ``BatchDispatchError``.

    ``build(intent)`` returns the intent's Redis commands and a note passed to ``on_sent`` once
    its chunk is confirmed; it raises ``NotBatchable`` for an intent to send alone with
    ``send_one`` (what came before it is pushed first, so order holds). Any failure raises
    ``BatchDispatchError`` naming what was sent; nothing is retried.
    """
    sent: list[Intent] = []
    built: Built = []

    def push() -> None:
        try:
            if run_chunk is None:
                run_transaction(client, built)
            else:
                run_chunk(built)
        except BatchDispatchError as exc:
            rest = intents[len(sent) + len(built) :]
            raise BatchDispatchError.build(
                exc,
                sent=sent + exc.sent,
                unsent=exc.unsent + rest,
                in_doubt=exc.in_doubt,
                errors=[*exc.errors, *((i, exc) for i in rest)],
            ) from exc
        sent.extend(intent for intent, _, _ in built)
        if on_sent is not None:
            on_sent([note for _, _, note in built])
        built.clear()

    with naming_unsent(sent, intents):  # an interrupt: the chunks confirmed before it went
        for index, intent in enumerate(intents):
            try:
                commands, note = build(intent)
            except NotBatchable:
                if built:
                    push()  # keep the order: what came before goes first
                try:
                    send_one(intent)
                except Exception as exc:
                    raise BatchDispatchError.build(exc, sent=sent, unsent=intents[index:]) from exc
                sent.append(intent)
                continue
            except Exception as exc:
                if built:
                    push()
                raise BatchDispatchError.build(exc, sent=sent, unsent=intents[index:]) from exc
            built.append((intent, commands, note))
            if len(built) >= chunk_size:
                push()
        if built:
            push()


def pooled_connection(pool: Any) -> Any:
    """A connection from a redis-py pool (redis-py 5 requires a command name, 6+ deprecates it)."""
    try:
        return pool.get_connection()
    except TypeError:
        return pool.get_connection("MULTI")


def execute_pipeline(pipe: Any, chunk: list[Intent]) -> list[Any]:
    """Run a filled MULTI/EXEC pipeline for ``chunk``; each command's reply (errors as values).

    Connecting fails, or the server refuses the transaction (EXECABORT): ``BatchDispatchError``
    with the whole chunk unsent. The connection breaks while waiting for the reply: the whole
    chunk in doubt. The pipeline is reset either way.
    """
    import redis.exceptions as redis_errors

    try:
        try:
            # Connect first: a failure here means nothing of this chunk left the process.
            pipe.connection = pooled_connection(pipe.connection_pool)
        except Exception as exc:
            raise BatchDispatchError.build(exc, sent=[], unsent=chunk) from exc
        try:
            return list(pipe.execute(raise_on_error=False))
        except redis_errors.ResponseError as exc:  # EXECABORT: nothing was applied
            raise BatchDispatchError.build(exc, sent=[], unsent=chunk) from exc
        except Exception as exc:  # the reply was lost: applied or not, we cannot tell
            raise BatchDispatchError.build(exc, sent=[], in_doubt=chunk) from exc
    finally:
        pipe.reset()


def refused(chunk: list[Intent], failed: Sequence[tuple[Intent, Any]]) -> BatchDispatchError:
    """The error for a transaction that ran with commands refused inside it (e.g. WRONGTYPE):
    ``failed`` (intent, its command's error) unsent, the rest of ``chunk`` sent."""
    bad = {id(intent) for intent, _ in failed}
    return BatchDispatchError.build(
        failed[0][1],
        sent=[i for i in chunk if id(i) not in bad],
        unsent=[i for i, _ in failed],
        errors=failed,
    )


def run_transaction(client: Any, built: Built) -> None:
    """Run one chunk's commands in one MULTI/EXEC; raise ``BatchDispatchError`` unless all landed.

    Connecting fails: all unsent. The server refuses the transaction (EXECABORT): all unsent.
    The connection breaks while waiting for the reply: all in doubt. A command refused inside
    the transaction (e.g. WRONGTYPE): that intent unsent, the others sent.
    """
    chunk = [intent for intent, _, _ in built]
    pipe = client.pipeline(transaction=True)
    owners: list[Intent | None] = []
    for intent, commands, _ in built:
        for index, (command, command_args) in enumerate(commands):
            getattr(pipe, command)(*command_args)
            owners.append(intent if index == 0 else None)  # bookkeeping: not the message
    results = execute_pipeline(pipe, chunk)
    failed = [
        (owner, result)
        for owner, result in zip(owners, results, strict=True)
        if owner is not None and isinstance(result, Exception)
    ]
    if failed:
        raise refused(chunk, failed)
