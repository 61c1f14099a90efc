"""Sphinx configuration of the django-brockman documentation (``nox -s docs`` builds it)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import django
from sphinx.application import Sphinx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# autodoc imports the package's modules, which need Django's app registry.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docs.django_settings")
django.setup()

import django_brockman  # noqa: E402

project = "django-brockman"
copyright = "django-brockman contributors"
release = version = django_brockman.__version__

extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"django-brockman {release}"
html_static_path = ["_static"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

# The build is offline (no intersphinx inventories): names of other projects' types in
# signatures cannot be resolved, and are not a documentation error of this one.
nitpick_ignore_regex = [
    (r"py:.*", r"(django|requests|typing|typing_extensions|collections|datetime|enum)\..*"),
    (r"py:.*", r"(Any|Callable|Iterator|Mapping|Sequence|Collection|Iterable|Awaitable)"),
    (r"py:.*", r"(HttpRequest|HttpResponse|Signal|QuerySet|TracebackType|Self|Model)"),
    (r"py:.*", r"(str|int|float|bool|bytes|dict|list|tuple|set|object|None|Exception)"),
    (r"py:.*", r"(timedelta|datetime|Enum|Thread|ModuleType|Path|uuid\.UUID|UUID)"),
    (r"py:.*", r"threading\..*"),
    # A dataclass field's ``dict[str, str]`` is split at its comma in the signature.
    (r"py:.*", r"dict\[str"),
    # Internal types that appear in public signatures but are not part of the API.
    (r"py:.*", r"django_brockman\.(retry|delivery|outbox|clock|flushing)\.\w+"),
]


def setup(app: Sphinx) -> None:
    # ``.. setting::`` and ``.. check::`` make targets for :setting: and :check: links,
    # as in Django's own documentation; tests/test_docs.py reads them.
    app.add_crossref_type("setting", "setting", indextemplate="pair: %s; setting")
    app.add_crossref_type("check", "check", indextemplate="pair: %s; system check")
