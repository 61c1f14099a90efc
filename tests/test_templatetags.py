"""The brockman template tags, rendered in real templates: exact output, hostile values."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.template import Context, Engine, RequestContext, Template
from django.test import Client, RequestFactory, override_settings

from django_brockman.models import Trigger

pytestmark = pytest.mark.django_db

HOSTILE = "\"'</script><script>alert(1)</script>&amp;{{ x }}"


def render(source: str, request: HttpRequest | None = None, **context: Any) -> str:
    if request is not None:
        context["request"] = request
    return Template("{% load brockman %}" + source).render(Context(context))


def visitor(actor_id: object = "actor-1") -> HttpRequest:
    request = RequestFactory().get("/")
    request.fl_actor_id = actor_id  # type: ignore[attr-defined]
    return request


def test_record_trigger_tag_records_and_renders_nothing() -> None:
    output = render(
        '<p>{% record_trigger "viewed" "blog post" title=post.title tags=post.tags %}</p>',
        visitor(),
        post={"title": "Hello", "tags": ["django", "analytics"]},
    )

    assert output == "<p></p>"
    stored = Trigger.objects.get()
    assert (stored.actor_id, stored.action, stored.obj) == ("actor-1", "viewed", "blog post")
    assert stored.variables == {"title": "Hello", "tags": ["django", "analytics"]}


def test_record_trigger_tag_takes_identities_and_attributes_dicts() -> None:
    render(
        '{% record_trigger "viewed" "page" identities=ids attributes=attrs n=3 %}',
        visitor(),
        ids={"crm": "c-1"},
        attrs={"plan": "pro"},
    )

    stored = Trigger.objects.get()
    assert (stored.identities, stored.attributes, stored.variables) == (
        {"crm": "c-1"},
        {"plan": "pro"},
        {"n": 3},
    )


def test_record_trigger_tag_hostile_values_are_stored_not_rendered() -> None:
    output = render(
        '<script>var a = 1;</script>{% record_trigger "viewed" obj title=title %}<i></i>',
        visitor(),
        obj=HOSTILE,
        title=HOSTILE,
    )

    assert output == "<script>var a = 1;</script><i></i>"
    stored = Trigger.objects.get()
    assert (stored.obj, stored.variables) == (HOSTILE, {"title": HOSTILE})


@override_settings(DEBUG=True)
def test_record_trigger_tag_without_request_is_an_error_in_debug() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"record_trigger %\} needs the request"):
        render('{% record_trigger "viewed" "page" %}')


def test_record_trigger_tag_without_request_warns_in_production(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert render('<b>{% record_trigger "viewed" "page" %}</b>') == "<b></b>"

    assert "needs the request in the template context" in caplog.text
    assert caplog.records[0].levelname == "WARNING"
    assert not Trigger.objects.exists()


def test_record_trigger_tag_error_never_breaks_the_page_in_production(
    caplog: pytest.LogCaptureFixture,
) -> None:
    output = render(
        '<b>{% record_trigger "viewed" "page" when=when %}</b>', visitor(), when=object()
    )

    assert output == "<b></b>"
    assert "Recording a trigger from the {% record_trigger %} template tag failed" in caplog.text
    assert "variables['when'] is a object" in caplog.text
    assert not Trigger.objects.exists()


@override_settings(DEBUG=True)
def test_record_trigger_tag_error_raises_in_debug() -> None:
    with pytest.raises(TypeError, match=r"variables\['when'\] is a object"):
        render('{% record_trigger "viewed" "page" when=when %}', visitor(), when=object())


@override_settings(BROCKMAN_CONSENT="django_brockman.consent.honour_do_not_track")
def test_record_trigger_tag_respects_consent() -> None:
    request = RequestFactory().get("/", headers={"Sec-GPC": "1"})
    request.fl_actor_id = "actor-1"  # type: ignore[attr-defined]

    assert render('{% record_trigger "viewed" "page" %}', request) == ""
    assert not Trigger.objects.exists()


def test_tags_find_the_request_of_a_request_context() -> None:
    # An engine without the request context processor: no "request" variable.
    engine = Engine(libraries={"brockman": "django_brockman.templatetags.brockman"})
    template = engine.from_string(
        '{% load brockman %}{% record_trigger "viewed" "page" %}[{% brockman_actor_id %}]'
    )

    assert template.render(RequestContext(visitor("actor-2"))) == "[actor-2]"
    assert Trigger.objects.get().actor_id == "actor-2"


def test_brockman_actor_id_prints_actor() -> None:
    assert render("[{% brockman_actor_id %}]", visitor("0f8fad5b-d9cb")) == "[0f8fad5b-d9cb]"


def test_brockman_actor_id_without_actor_prints_nothing() -> None:
    assert render("[{% brockman_actor_id %}]", visitor(None)) == "[]"


def test_brockman_actor_id_is_escaped() -> None:
    output = render('<a data-actor="{% brockman_actor_id %}">', visitor(HOSTILE))

    assert output == (
        '<a data-actor="&quot;&#x27;&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;'
        '&amp;amp;{{ x }}">'
    )


@override_settings(DEBUG=True)
def test_brockman_actor_id_without_request_is_an_error_in_debug() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"brockman_actor_id %\} needs the request"):
        render("{% brockman_actor_id %}")


def test_brockman_actor_id_without_request_prints_nothing_in_production() -> None:
    assert render("[{% brockman_actor_id %}]") == "[]"


def test_tags_in_a_served_page() -> None:
    client = Client()
    client.cookies["fl_actor_id"] = "actor-7"

    response = client.get("/tagged/", {"title": "</p><script>x()</script>"})

    assert response.content.decode() == (
        '<p data-actor="actor-7">&lt;/p&gt;&lt;script&gt;x()&lt;/script&gt;</p>\n'
    )
    stored = Trigger.objects.get()
    assert (stored.actor_id, stored.variables) == (
        "actor-7",
        {"title": "</p><script>x()</script>"},
    )


def test_tags_in_a_served_page_with_a_forged_cookie(caplog: pytest.LogCaptureFixture) -> None:
    client = Client()
    client.cookies["fl_actor_id"] = "x<script>"

    response = client.get("/tagged/", {"title": "t"})

    # The forged value is ignored, never echoed: the trigger gets a freshly minted actor.
    assert response.content.decode() == '<p data-actor="">t</p>\n'
    assert "script" not in str(response.cookies)
    stored = Trigger.objects.get()
    assert response.cookies["fl_actor_id"].value == stored.actor_id != "x<script>"
    assert caplog.records == []
