"""The example app: connects a signal hook that records each new subscription."""

from __future__ import annotations

from django.apps import AppConfig


class ExampleConfig(AppConfig):
    name = "example"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from django_brockman.hooks import trigger_on
        from example.models import Subscription

        trigger_on(
            post_save,
            sender=Subscription,
            action="subscribed",
            obj="article updates",
            when=lambda created, **kw: created,
            actor_id=lambda instance, **kw: instance.actor_id,
            identities=lambda instance, **kw: {"email": instance.email},
            variables=lambda instance, **kw: {"slug": instance.slug},
        )
