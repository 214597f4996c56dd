"""A row a view writes inside ``atomic`` and a worker task reads after the commit."""

from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.text
