"""Settings of the suite's child processes (relays, the crashing writer): e2e + the outbox."""

from __future__ import annotations

from integrations.settings import *  # noqa: F403

# Other suites' Celery apps load here too (their URLs import them), so CELERY_APP names ours.

AIRLOCK = {
    "EXECUTOR": "airlock.integrations.executors.celery.celery_executor",
    "OUTBOX": {
        "CELERY_APP": "integrations.outbox.worker_app.app",
        "GRACE": 0,
        "BACKOFF": 0.2,
        "MAX_BACKOFF": 1.0,
        "MAX_ATTEMPTS": 1000,
        "INTERVAL": 0.1,
        "BATCH_SIZE": 100,
    },
}

# The shared e2e settings leave the admin's context processors out; commands run the checks.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
