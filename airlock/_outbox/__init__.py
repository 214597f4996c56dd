"""The outbox's storage-agnostic parts, shared by the Django and SQLAlchemy outboxes.

``codec`` (argument values as JSON data), ``registry`` (task references a row may name),
``payload`` (the row payload: writing it, reading it back), ``settings`` (the knobs both outboxes
share) and ``relay`` (claim, send, settle: everything but the storage). Each outbox adds only
its table and its queries.
"""
