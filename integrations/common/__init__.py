"""Shared pieces of the end-to-end suites: a tiny Django app (``Note``), a Redis recorder that
worker tasks write to and tests read, and a helper that starts a Django-aware worker process."""
