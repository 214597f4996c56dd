"""URLs of the end-to-end suites: each suite adds its views under its own prefix."""

from __future__ import annotations

import importlib.util

from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = []

if importlib.util.find_spec("celery") is not None:
    urlpatterns.append(path("celery/", include("integrations.celery.urls")))

for _prefix, _module in [
    ("dramatiq", "dramatiq"),
    ("huey", "huey"),
    ("django_q", "django_q"),
    ("django_tasks", "django_tasks_db"),  # django.tasks (Django 6+) or the backport
]:
    if importlib.util.find_spec(_module) and importlib.util.find_spec(f"integrations.{_prefix}"):
        urlpatterns.append(path(f"{_prefix}/", include(f"integrations.{_prefix}.urls")))
