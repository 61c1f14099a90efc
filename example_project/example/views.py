"""The example site's pages. The home page records from the view, the article page from its
template, and a subscription through a signal hook (see apps.py)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from django_brockman import record_trigger
from example.models import Subscription

ARTICLES = {
    "hello": {"title": "Hello, outbox", "tags": ["django", "analytics"]},
    "cron": {"title": "Cron is enough", "tags": ["operations"]},
}


class BrockmanHttpRequest(HttpRequest):
    # What BrockmanMiddleware adds, for type checkers.
    fl_actor_id: str | None


def home(request: BrockmanHttpRequest) -> HttpResponse:
    # The actor comes from the fl_actor_id cookie, read by BrockmanMiddleware.
    record_trigger(request, "viewed", "home page")
    return render(request, "example/home.html", {"articles": ARTICLES})


def article(request: BrockmanHttpRequest, slug: str) -> HttpResponse:
    if slug not in ARTICLES:
        raise Http404("No such article")
    # The template records the trigger with {% record_trigger %}.
    return render(request, "example/article.html", {"post": ARTICLES[slug], "slug": slug})


@require_POST
def subscribe(request: BrockmanHttpRequest, slug: str) -> HttpResponse:
    if slug not in ARTICLES or not request.fl_actor_id:
        raise Http404("No such article")
    # Saving is all the view does: the post_save hook records the trigger.
    Subscription.objects.create(
        email=request.POST["email"], slug=slug, actor_id=request.fl_actor_id
    )
    return redirect("article", slug=slug)
