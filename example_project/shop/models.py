"""The shop's domain: products, orders, and a log of what the background tasks did."""

from __future__ import annotations

from django.db import models

import airlock


class Product(models.Model):
    name = models.CharField(max_length=100, unique=True)
    price = models.DecimalField(max_digits=8, decimal_places=2)

    def __str__(self) -> str:
        return self.name


class Order(models.Model):
    PLACED, SHIPPED, DECLINED = "placed", "shipped", "declined"
    STATUSES = [(PLACED, "placed"), (SHIPPED, "shipped"), (DECLINED, "payment declined")]

    customer = models.EmailField()
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=20, choices=STATUSES, default=PLACED)
    points_used = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"order #{self.pk}"

    def ship(self) -> None:
        """Mark the order shipped; the receipt and the warehouse call wait for the commit.

        Domain code like this does not know whether it runs in a request, a command or a task,
        nor whether the caller's transaction will commit: it only says what should happen.
        """
        from shop.tasks import notify_warehouse, send_receipt

        self.status = self.SHIPPED
        self.save(update_fields=["status"])
        airlock.enqueue(send_receipt, order_id=self.pk)
        airlock.enqueue(notify_warehouse, self.pk)


class Effect(models.Model):
    """One thing a background task did (a mail sent, a call made): what the shop page lists."""

    task = models.CharField(max_length=50)
    order = models.ForeignKey(Order, null=True, on_delete=models.SET_NULL)
    detail = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.task}: {self.detail}"


class JournalRecord(models.Model):
    """One unit of work (a request, a command) in the /airlock/ journal: its intents' fates.

    ``entries`` lists ``{"call", "name", "fate", "why"}`` per intent, in enqueue order.
    Written by ``shop.journal``; kept in the database so every process shows the same journal.
    """

    label = models.CharField(max_length=200)
    at = models.DateTimeField()
    status = models.PositiveSmallIntegerField(null=True)
    entries = models.JSONField(default=list)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.label
