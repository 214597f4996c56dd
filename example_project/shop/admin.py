from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from shop.models import Effect, Order, Product


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "product", "quantity", "status", "created"]
    list_filter = ["status"]
    actions = ["ship_selected"]

    @admin.action(description="Ship the selected orders (receipts go out after the commit)")
    def ship_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        for order in queryset.filter(status=Order.PLACED):
            order.ship()


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "price"]


@admin.register(Effect)
class EffectAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "order", "detail", "created"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
