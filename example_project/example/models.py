"""The example site's one model: a reader's subscription to an article's updates."""

from __future__ import annotations

from django.db import models


class Subscription(models.Model):
    email = models.EmailField()
    slug = models.SlugField()
    # The reader's browser actor, kept so the signal hook can name the actor later,
    # outside the request.
    actor_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.email} on {self.slug}"
