from decimal import Decimal

from django.db import migrations

PRODUCTS = [("Teapot", Decimal("25.00")), ("Tea (250 g)", Decimal("8.50")), ("Anvil", Decimal("120.00"))]


def add_products(apps, schema_editor):
    Product = apps.get_model("shop", "Product")
    for name, price in PRODUCTS:
        Product.objects.get_or_create(name=name, defaults={"price": price})


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.RunPython(add_products, migrations.RunPython.noop)]
