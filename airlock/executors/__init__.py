"""Dependency-free executors and wrappers: retry, fallback, routing, limits, fan-out, pools.

Every wrapper takes an executor and returns one (a callable ``executor(intent)``), forwards
``prepare``, ``after_flush`` and ``close`` to what it wraps, and removes the dispatch options
it consumes before the wrapped executor sees them.
"""

from airlock.executors._compose import compose
from airlock.executors._fallback import with_fallback
from airlock.executors._fanout import batching, broadcast
from airlock.executors._instrumented import ExecutorStatistics, instrumented
from airlock.executors._limits import CircuitOpenError, with_circuit_breaker, with_rate_limit
from airlock.executors._logging import logging_executor
from airlock.executors._pools import PoolStatistics, process_pool_executor, thread_pool_executor
from airlock.executors._retry import RetryStatistics, exponential_backoff, with_retry
from airlock.executors._route import route

__all__ = [
    "CircuitOpenError",
    "ExecutorStatistics",
    "PoolStatistics",
    "RetryStatistics",
    "batching",
    "broadcast",
    "compose",
    "exponential_backoff",
    "instrumented",
    "logging_executor",
    "process_pool_executor",
    "route",
    "thread_pool_executor",
    "with_circuit_breaker",
    "with_fallback",
    "with_rate_limit",
    "with_retry",
]
