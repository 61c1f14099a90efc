"""The Trigger admin: browse the outbox, retry or give up on triggers, and see its health."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from django_brockman import stats, transitions, unmigrated
from django_brockman.destinations import configured
from django_brockman.health_chart import hourly_chart
from django_brockman.models import Status, Trigger

PRE = '<pre style="margin:0; white-space:pre-wrap">{}</pre>'


def pretty(value: object) -> SafeString:
    return format_html(PRE, json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


DETAIL_FIELDS = (
    "uuid",
    "status",
    "actor_id",
    "action",
    "obj",
    "destination",
    "payload",
    "attempts",
    "last_error_text",
    "next_attempt_at",
    "created_at",
    "updated_at",
    "sent_at",
)

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[Trigger]
else:
    # ModelAdmin is generic only in django-stubs, not at run time.
    ModelAdmin = admin.ModelAdmin


class DestinationFilter(admin.SimpleListFilter):
    """The configured destinations, read from the settings: a filter listing the values
    in the table would scan all of it on every page."""

    title = _("destination")
    parameter_name = "destination"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in configured()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Trigger]) -> QuerySet[Trigger]:
        value = self.value()
        return queryset.filter(destination=value) if value else queryset


@admin.register(Trigger)
class TriggerAdmin(ModelAdmin):
    list_display = [
        "status",
        "action",
        "obj",
        "actor_id",
        "destination",
        "attempts",
        "next_attempt_at",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", DestinationFilter, "action"]
    # Exact matches only, so a search on a large outbox uses the actor index; a term that
    # is a UUID also finds the trigger with that UUID (see get_search_results).
    search_fields = ["=actor_id"]
    search_help_text = _("An actor id, or a trigger's UUID.")
    date_hierarchy = "created_at"
    ordering = ["-id"]
    show_full_result_count = False
    actions = ["retry_now", "mark_failed"]
    # Every field is read-only: a trigger's content is what was recorded, and its state
    # changes only through the actions, which respect a running flusher's claim.
    fields = readonly_fields = DETAIL_FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Trigger | None = None) -> bool:
        # The change permission allows the actions on the list; a trigger's own page is
        # for viewing only, with no form to save.
        return obj is None and super().has_change_permission(request)

    @admin.display(description=_("payload (as sent)"))
    def payload(self, trigger: Trigger) -> SafeString:
        return pretty(trigger.data().body())

    @admin.display(description=_("last error"))
    def last_error_text(self, trigger: Trigger) -> SafeString | str:
        if not trigger.last_error:
            return "-"
        return format_html(PRE, trigger.last_error)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Trigger], search_term: str
    ) -> tuple[QuerySet[Trigger], bool]:
        term = search_term.strip()
        try:
            wanted = uuid.UUID(term)
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        by_actor, duplicates = super().get_search_results(request, queryset, search_term)
        return by_actor | queryset.filter(uuid=wanted), duplicates

    @admin.action(
        description=_("Retry now (pending, attempts reset, due now)"), permissions=["change"]
    )
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Trigger]) -> None:
        result = transitions.retry_now(queryset)
        done = ngettext("%d trigger made due now.", "%d triggers made due now.", result.changed)
        self.report(request, result, done)

    @admin.action(description=_("Mark failed"), permissions=["change"])
    def mark_failed(self, request: HttpRequest, queryset: QuerySet[Trigger]) -> None:
        result = transitions.mark_failed(queryset)
        done = ngettext("%d trigger marked failed.", "%d triggers marked failed.", result.changed)
        self.report(request, result, done)

    def report(self, request: HttpRequest, result: transitions.Changed, done: str) -> None:
        self.message_user(request, done % result.changed, messages.SUCCESS)
        if result.held:
            text = ngettext(
                "%d was left alone: a running flusher is sending it.",
                "%d were left alone: a running flusher is sending them.",
                result.held,
            )
            self.message_user(request, text % result.held, messages.WARNING)

    def get_urls(self) -> list[URLPattern]:
        health = path(
            "health/",
            self.admin_site.admin_view(self.health_view),
            name="django_brockman_trigger_health",
        )
        retry = path(
            "<path:object_id>/retry/",
            self.admin_site.admin_view(require_POST(self.retry_view)),
            name="django_brockman_trigger_retry",
        )
        return unmigrated.admin_urls([health, retry, *super().get_urls()])

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Trigger | None = None,
    ) -> HttpResponse:
        # The trigger's page offers "Retry now" to whoever may run the list's actions.
        context["can_retry"] = (
            obj is not None
            and obj.status != Status.SENT
            and super().has_change_permission(request)
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The trigger page's "Retry now" button: the list's action, for one trigger."""
        if not super().has_change_permission(request):
            raise PermissionDenied
        trigger = self.get_object(request, unquote(object_id))
        if trigger is None:  # no such trigger, or not an id at all
            raise Http404
        self.retry_now(request, Trigger.objects.filter(pk=trigger.pk))
        return HttpResponseRedirect(
            reverse("admin:django_brockman_trigger_change", args=[object_id])
        )

    def health_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        health = stats.collect()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Trigger health"),
            "opts": self.model._meta,
            "health": health,
            "chart": hourly_chart(health.per_hour),
            "state": health.state.value,
            "reasons": health.assessment[1],
            "changelist": reverse("admin:django_brockman_trigger_changelist"),
        }
        return TemplateResponse(request, "admin/django_brockman/trigger/health.html", context)
