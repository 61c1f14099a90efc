"""The app config: registers the system checks and the built-in auth hooks."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class BrockmanConfig(AppConfig):
    name = "django_brockman"
    verbose_name = _("FocusLab triggers")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_brockman import auth_hooks
        from django_brockman import checks as brockman_checks

        checks.register(brockman_checks.check_settings, checks.Tags.compatibility)
        checks.register(
            brockman_checks.check_deploy_settings, checks.Tags.compatibility, deploy=True
        )
        auth_hooks.connect_auth_hooks()
