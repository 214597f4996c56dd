"""Executors for task queues and outside services (one module each; see docs/executors.md)."""

from airlock.integrations.executors._batch import BatchDispatchError

__all__ = ["BatchDispatchError"]
