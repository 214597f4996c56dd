from django.urls import path

from integrations.celery import views

urlpatterns = [
    path("order/", views.order),
    path("options/", views.options),
    path("spawns/", views.spawns),
    path("legacy/", views.legacy),
    path("strict/bypass/", views.strict_bypass),
    path("strict/enqueue/", views.strict_enqueue),
]
