from __future__ import annotations

from django.contrib import admin
from django.urls import path

from tests.testapp import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("record/", views.record_view),
    path("record-then-fail/", views.record_then_fail_view),
    path("actor/", views.actor_view),
    path("async-actor/", views.async_actor_view),
    path("async-record/", views.async_record_view),
    path("tagged/", views.tagged_page_view),
    path("visit/", views.visit_view),
    path("visit-twice/", views.visit_twice_view),
    path("async-visit/", views.async_visit_view),
    path("streaming-visit/", views.streaming_visit_view),
]
