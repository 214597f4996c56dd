from django.urls import path

from tests.django import views

urlpatterns: list[object] = [
    path("status/<int:code>", views.status),
    path("boom", views.boom),
    path("async", views.async_view),
    path("scope", views.scope_info),
    path("write", views.write_then_raise),
    path("failing", views.failing_in_the_middle),
    path("stream", views.streaming),
    path("async-stream", views.async_streaming),
    path("concurrent/<str:tag>", views.concurrent),
]
