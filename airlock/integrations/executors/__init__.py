"""Executors for task queues and outside services: one module per destination.

What goes here and what goes in ``airlock.executors``:

- Here: destinations that need a third-party package (``celery``, ``dramatiq``, ``huey``,
  ``django_q``, ``django_tasks``, ``aws_lambda`` with boto3, ``ray``) or talk to an outside
  service (``webhook``, standard library only). Each imports its package inside
  ``airlock.integrations._extras.require``, so a missing one names the extra to install, and
  only where it is needed. Private helpers they share start with ``_``. ``sync`` is the one
  exception: the default executor, kept at its seed path though it needs only the standard
  library.
- ``airlock.executors``: building blocks that import nothing outside the standard library
  and talk to no outside service (wrappers, pools, the logging dry run). Modules here may use
  them; they never import a module from here.

See docs/executors.md.
"""

from airlock.exceptions import BatchDispatchError

__all__ = ["BatchDispatchError"]
