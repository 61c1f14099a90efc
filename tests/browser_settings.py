"""Settings of the site the browser test visits: the test settings, the actor cookie
middleware (minting an id when a trigger needs one, the default), and the admin's static
files."""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, MIDDLEWARE

ROOT_URLCONF = "tests.browser_site"
INSTALLED_APPS = [*INSTALLED_APPS, "django.contrib.staticfiles"]
STATIC_URL = "static/"
MIDDLEWARE = [*MIDDLEWARE, "django_brockman.middleware.BrockmanMiddleware"]
