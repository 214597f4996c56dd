"""URLs of the end-to-end suites: each suite adds its views under its own prefix."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
