"""record_triggers: many rows in a few INSERTs, all validated before any is written."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.test import RequestFactory, override_settings

import django_brockman
from django_brockman import record_triggers, signals
from django_brockman.models import Status, Trigger

pytestmark = pytest.mark.django_db


def test_record_triggers_stores_every_item_as_a_pending_row() -> None:
    triggers = record_triggers(
        None,
        [
            {"action": "viewed", "obj": "page 1", "actor_id": "a1"},
            {
                "action": "purchased",
                "obj": "order",
                "actor_id": 7,
                "identities": {"email": "x@example.com"},
                "attributes": {"plan": "pro"},
                "variables": {"skus": ("a", "b")},
            },
        ],
    )

    stored = list(Trigger.objects.order_by("pk"))
    assert [trigger.pk for trigger in triggers] == [trigger.pk for trigger in stored]
    assert [(t.actor_id, t.action, t.obj) for t in stored] == [
        ("a1", "viewed", "page 1"),
        ("7", "purchased", "order"),
    ]
    assert stored[1].identities == {"email": "x@example.com"}
    assert stored[1].attributes == {"plan": "pro"}
    assert stored[1].variables == {"skus": ["a", "b"]}
    assert {t.status for t in stored} == {Status.PENDING}
    assert len({t.uuid for t in stored}) == 2


def test_record_triggers_takes_the_request_actor_for_items_without_one() -> None:
    request = RequestFactory().get("/")
    request.fl_actor_id = "cookie-actor"  # type: ignore[attr-defined]

    record_triggers(
        request,
        [{"action": "viewed", "obj": "a"}, {"action": "viewed", "obj": "b", "actor_id": "own"}],
    )

    assert list(Trigger.objects.order_by("pk").values_list("actor_id", flat=True)) == [
        "cookie-actor",
        "own",
    ]


def test_record_triggers_uses_few_queries_for_many_items(
    django_assert_max_num_queries: Any,
) -> None:
    items = [{"action": "viewed", "obj": f"page {n}", "actor_id": "a1"} for n in range(300)]

    # One INSERT per batch the database takes (SQLite's bound-parameter limit makes
    # those about 60 rows), not one per trigger.
    with django_assert_max_num_queries(8):
        record_triggers(None, items)

    assert Trigger.objects.count() == 300


@pytest.mark.parametrize(
    ("items", "error", "message"),
    [
        ([{"action": "viewed", "obj": "ok", "actor_id": "a"}, "x"], TypeError, "^Trigger 3: each"),
        ([{"action": "", "obj": "x", "actor_id": "a"}], ValueError, "^Trigger 2: action"),
        ([{"action": "a", "obj": "x"}], ValueError, "^Trigger 2: No actor"),
        ([{"action": "a", "actor_id": "a"}], TypeError, "^Trigger 2: missing obj"),
        ([{"action": "a", "obj": "x", "actor_id": "a", "object": "y"}], TypeError, "'object'"),
        ("viewed", TypeError, "list of dicts, not a str"),
    ],
)
def test_record_triggers_bad_item_raises_naming_it_and_stores_nothing(
    items: Any, error: type[Exception], message: str
) -> None:
    good = [{"action": "viewed", "obj": "page", "actor_id": "a1"}] * 2

    with pytest.raises(error, match=message):
        record_triggers(None, [*good, *items] if isinstance(items, list) else items)

    assert not Trigger.objects.exists()


def test_record_triggers_bad_item_index_counts_from_the_first_item() -> None:
    items = [{"action": "viewed", "obj": "page", "actor_id": "a1"}] * 3
    items.append({"action": "viewed", "obj": "page", "actor_id": "a1", "variables": {"v": {}}})

    with pytest.raises(TypeError, match=r"^Trigger 3: variables\['v'\] is a dict"):
        record_triggers(None, items)

    assert not Trigger.objects.exists()


@override_settings(BROCKMAN_MAX_PAYLOAD_BYTES=100)
def test_record_triggers_oversized_item_raises_naming_it() -> None:
    items = [
        {"action": "viewed", "obj": "page", "actor_id": "a1"},
        {"action": "viewed", "obj": "page", "actor_id": "a1", "attributes": {"x": "y" * 200}},
    ]

    with pytest.raises(ValueError, match=r"^Trigger 1: .*BROCKMAN_MAX_PAYLOAD_BYTES allows 100"):
        record_triggers(None, items)

    assert not Trigger.objects.exists()


class Abort(Exception):
    pass


def record_then_abort() -> None:
    with transaction.atomic():
        record_triggers(None, [{"action": "viewed", "obj": "page", "actor_id": "a1"}])
        assert Trigger.objects.count() == 1
        raise Abort


@pytest.mark.django_db(transaction=True)
def test_record_triggers_rolls_back_with_the_callers_transaction() -> None:
    with pytest.raises(Abort):
        record_then_abort()

    assert not Trigger.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_record_triggers_announces_each_trigger_after_commit() -> None:
    seen: list[str] = []

    def receiver(sender: object, trigger: Trigger, **kwargs: object) -> None:
        seen.append(trigger.obj)

    signals.trigger_recorded.connect(receiver)
    try:
        with transaction.atomic():
            record_triggers(
                None,
                [
                    {"action": "viewed", "obj": "a", "actor_id": "a1"},
                    {"action": "viewed", "obj": "b", "actor_id": "a1"},
                ],
            )
            assert seen == []
    finally:
        signals.trigger_recorded.disconnect(receiver)

    assert seen == ["a", "b"]


def test_record_triggers_is_exported_from_the_package() -> None:
    assert "record_triggers" in django_brockman.__all__
    assert django_brockman.record_triggers is record_triggers


@override_settings(BROCKMAN_ENABLED=False)
def test_record_triggers_disabled_stores_nothing_but_still_checks_items() -> None:
    assert record_triggers(None, [{"action": "viewed", "obj": "page", "actor_id": "a"}]) == []
    with pytest.raises(TypeError, match="Trigger 0: missing obj"):
        record_triggers(None, [{"action": "viewed", "actor_id": "a"}])
    assert not Trigger.objects.exists()


@override_settings(BROCKMAN_CONSENT="django_brockman.consent.honour_do_not_track")
def test_record_triggers_refused_consent_stores_nothing() -> None:
    request = RequestFactory().get("/", headers={"Sec-GPC": "1"})

    assert record_triggers(request, [{"action": "viewed", "obj": "page", "actor_id": "a"}]) == []
    assert not Trigger.objects.exists()


def test_record_triggers_merges_the_requests_identities_under_each_items() -> None:
    user = User.objects.create_user("ada", email="ada@example.com")
    request = RequestFactory().get("/")
    request.user = user

    record_triggers(
        request,
        [
            {"action": "viewed", "obj": "page 1"},
            {"action": "viewed", "obj": "page 2", "identities": {"email": "other@example.com"}},
        ],
    )

    assert [t.identities for t in Trigger.objects.order_by("pk")] == [
        {"user_id": user.pk, "email": "ada@example.com"},
        {"user_id": user.pk, "email": "other@example.com"},
    ]


def test_record_triggers_for_a_request_without_actor_stores_nothing_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    request = RequestFactory().get("/")
    request.user = AnonymousUser()

    items = [
        {"action": "viewed", "obj": "a", "actor_id": "own"},
        {"action": "viewed", "obj": "b"},
        {"action": "viewed", "obj": "c"},
    ]

    assert record_triggers(request, items) == []
    assert not Trigger.objects.exists()
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_record_triggers_for_a_request_without_actor_still_checks_items() -> None:
    request = RequestFactory().get("/")
    request.user = AnonymousUser()

    with pytest.raises(ValueError, match=r"^Trigger 1: action must not be empty"):
        record_triggers(request, [{"action": "viewed", "obj": "a"}, {"action": "", "obj": "b"}])


@override_settings(BROCKMAN_CONSENT="django_brockman.consent.honour_do_not_track")
def test_record_triggers_refused_consent_needs_no_actor() -> None:
    request = RequestFactory().get("/", headers={"Sec-GPC": "1"})
    request.user = AnonymousUser()

    assert record_triggers(request, [{"action": "viewed", "obj": "page"}]) == []
