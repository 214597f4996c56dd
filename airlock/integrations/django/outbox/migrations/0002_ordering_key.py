# Rows written before this migration get ordering_key NULL: unordered, as they were.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("airlock_outbox", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxmessage",
            name="ordering_key",
            field=models.CharField(blank=True, max_length=255, null=True),
        ),
        migrations.AddIndex(
            model_name="outboxmessage",
            index=models.Index(
                fields=["ordering_key", "status", "id"], name="airlock_outbox_key_order"
            ),
        ),
    ]
