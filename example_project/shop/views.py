"""Pages: the shop (checkout, orders, what the tasks did) and the airlock journal."""

from __future__ import annotations

from django import forms
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from shop import journal, services
from shop.models import Effect, Order, Product


class CheckoutForm(forms.Form):
    customer = forms.EmailField(initial="ada@example.com")
    product = forms.ModelChoiceField(Product.objects.order_by("price"), empty_label=None)
    quantity = forms.IntegerField(min_value=1, initial=1)
    card = forms.CharField(initial="4242 4242 4242 4242")
    points = forms.IntegerField(min_value=0, initial=0, required=False)
    ship_now = forms.BooleanField(initial=True, required=False)


def home(request: HttpRequest, form: CheckoutForm | None = None, status: int = 200) -> HttpResponse:
    context = {
        "form": form or CheckoutForm(),
        "orders": Order.objects.select_related("product")[:10],
        "effects": Effect.objects.all()[:10],
        "declined_card": services.DECLINED_CARD,
    }
    return render(request, "shop/home.html", context, status=status)


@require_POST
def checkout(request: HttpRequest) -> HttpResponse:
    """Place an order, charge it, maybe redeem points, maybe ship it: all in one transaction."""
    form = CheckoutForm(request.POST)
    if not form.is_valid():
        return home(request, form, status=400)
    data = form.cleaned_data
    with transaction.atomic():
        # post_save enqueues the analytics event (shop/signals.py)
        order = Order.objects.create(
            customer=data["customer"], product=data["product"], quantity=data["quantity"]
        )
        if data["points"]:
            try:
                with transaction.atomic():  # a savepoint: a refusal undoes only this part
                    services.redeem_points(order, data["points"])
            except services.NotEnoughPoints:
                order.refresh_from_db()
        try:
            services.charge(order, data["card"])
        except services.PaymentDeclined:
            order.status = Order.DECLINED
            order.save(update_fields=["status"])
            # A 4xx response: the middleware discards what this request enqueued.
            return render(request, "shop/declined.html", {"order": order}, status=402)
        if data["ship_now"]:
            ship(order)
    return redirect("shop:home")


def ship(order: Order) -> None:
    order.ship()  # enqueues the receipt mail and the warehouse call (shop/models.py)
    services.print_label(order)  # raises for an anvil: the view fails with a 500


@require_POST
@transaction.atomic
def ship_order(request: HttpRequest, pk: int) -> HttpResponse:
    ship(get_object_or_404(Order.objects.select_for_update(), pk=pk, status=Order.PLACED))
    return redirect("shop:home")


def intents(request: HttpRequest) -> HttpResponse:
    """The last requests with their intents and fates (``?fragment=1``: the table alone)."""
    template = "shop/_journal.html" if request.GET.get("fragment") else "shop/intents.html"
    return render(request, template, {"records": journal.recent()})
