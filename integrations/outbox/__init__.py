"""End-to-end suite of the outbox: real processes, PostgreSQL, Celery on Redis (DB 6)."""
