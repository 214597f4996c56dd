from django.db import models


class Note(models.Model):
    """A row to write in transaction tests, so commits and rollbacks carry real data."""

    text = models.CharField(max_length=100)

    class Meta:
        app_label = "tests_django"
