from django.urls import path

from shop import views

app_name = "shop"
urlpatterns = [
    path("", views.home, name="home"),
    path("checkout/", views.checkout, name="checkout"),
    path("orders/<int:pk>/ship/", views.ship_order, name="ship"),
    path("airlock/", views.intents, name="intents"),
]
