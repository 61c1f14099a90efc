from __future__ import annotations

from django.contrib import admin
from django.urls import path

from example import views

urlpatterns = [
    path("", views.home, name="home"),
    path("articles/<slug:slug>/", views.article, name="article"),
    path("articles/<slug:slug>/subscribe/", views.subscribe, name="subscribe"),
    path("admin/", admin.site.urls),
]
