"""An order per intent with the counter its consumer's effect increments (must end at 1), and a
log of every delivery the consumers received (duplicates included), written outside the inbox's
transaction so it shows what the broker really handed over."""

from django.db import models


class Order(models.Model):
    queue = models.CharField(max_length=20)
    applied = models.IntegerField(default=0)


class Delivery(models.Model):
    order = models.BigIntegerField(db_index=True)
    message_id = models.CharField(max_length=255)
    queue = models.CharField(max_length=20)
