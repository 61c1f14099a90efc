"""The example site's pages; each records a trigger as it is served."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from django_brockman import record_trigger

ARTICLES = {
    "hello": {"title": "Hello, outbox", "tags": ["django", "analytics"]},
    "cron": {"title": "Cron is enough", "tags": ["operations"]},
}


def actor_of(request: HttpRequest) -> str:
    # Until the middleware reads the browser script's cookie, the demo names its
    # visitor with a query parameter.
    return request.GET.get("visitor", "anonymous-visitor")


def home(request: HttpRequest) -> HttpResponse:
    record_trigger(request, "viewed", "home page", actor_id=actor_of(request))
    return render(request, "example/home.html", {"articles": ARTICLES})


def article(request: HttpRequest, slug: str) -> HttpResponse:
    if slug not in ARTICLES:
        raise Http404("No such article")
    post = ARTICLES[slug]
    record_trigger(
        request,
        "read",
        "article",
        actor_id=actor_of(request),
        variables={"slug": slug, "title": post["title"], "tags": post["tags"]},
    )
    return render(request, "example/article.html", {"post": post, "slug": slug})
