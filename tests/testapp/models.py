"""Models the tests record triggers about."""

from __future__ import annotations

from django.db import models


class Order(models.Model):
    customer_id = models.IntegerField()
    total = models.DecimalField(max_digits=10, decimal_places=2, default=0)

    def __str__(self) -> str:
        return f"Order {self.pk}"
