"""A missing outbox table (migrations not run): recognised on every database, said in one line."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db import DatabaseError, router
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, reverse

from django_brockman.models import Trigger

# Exit status of every command when the outbox table is missing: the setup is wrong, like
# a configuration error, and no trigger is to blame.
EXIT_NOT_MIGRATED = 3

View = Callable[..., HttpResponse]


def is_missing_table(exc: BaseException, table: str) -> bool:
    """Whether *exc* is the database saying that *table* does not exist."""
    text = str(exc)
    return isinstance(exc, DatabaseError) and any(
        phrase in text
        for phrase in (
            f"no such table: {table}",  # SQLite
            f'relation "{table}" does not exist',  # PostgreSQL
            f".{table}' doesn't exist",  # MariaDB and MySQL: Table 'db.table' doesn't exist
        )
    )


def is_missing_outbox_table(exc: BaseException) -> bool:
    return is_missing_table(exc, Trigger._meta.db_table)


def migrate_hint(alias: str) -> str:
    """The one line that says what is wrong and what to run."""
    option = "" if alias == "default" else f" --database {alias}"
    return (
        f"The outbox table {Trigger._meta.db_table} does not exist in the database "
        f"{alias!r}: run `manage.py migrate django_brockman{option}`."
    )


def admin_view(view: View) -> View:
    """Wrap an admin view: a missing outbox table is an error message on the admin index,
    not a server error."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
            # A TemplateResponse runs its queries when rendered: render it here.
            render = getattr(response, "render", None)
            return render() if callable(render) else response
        except DatabaseError as exc:
            if not is_missing_outbox_table(exc):
                raise
            hint = migrate_hint(router.db_for_read(Trigger))
            messages.error(request, hint)
            return HttpResponseRedirect(reverse("admin:index"))

    return wrapped


def admin_urls(patterns: list[URLPattern]) -> list[URLPattern]:
    """*patterns*, each view wrapped with admin_view()."""
    for pattern in patterns:
        pattern.callback = admin_view(pattern.callback)
    return patterns
