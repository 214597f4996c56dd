"""Dependency-free executors and wrappers: retry, fallback, routing, limits, fan-out, pools.

What goes here and what goes in ``airlock.integrations.executors``:

- Here: building blocks that import nothing outside the standard library and talk to no
  outside service. Wrappers that take executors and return one (retry, fallback, route,
  limits, fan-out, instrumented, compose) and executors that run work in this process
  (thread and process pools, the logging dry run). Importing this package loads no
  third-party module; a test holds that.
- ``airlock.integrations.executors``: destinations, one module each, that need a third-party
  package (Celery, dramatiq, huey, django-q2, Django tasks, boto3, Ray) or talk to an outside
  service (webhooks). They may use the building blocks; the building blocks never import
  them, except ``sync_executor``, the default executor, which stays at its seed path
  ``airlock.integrations.executors.sync`` although it needs only the standard library.

Every wrapper takes an executor and returns one (a callable ``executor(intent)``), forwards
``prepare``, ``after_flush`` and ``close`` to what it wraps, and removes the dispatch options
it consumes before the wrapped executor sees them.

``sending()`` marks the queue calls a custom executor makes as airlock's own publishes, which
strict mode does not report (the built-in executors and the outbox relay set it themselves).
"""

from airlock._sending import sending
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
    "sending",
    "thread_pool_executor",
    "with_circuit_breaker",
    "with_fallback",
    "with_rate_limit",
    "with_retry",
]
