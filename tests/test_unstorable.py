"""Input one supported database cannot store, or would change, is refused at record time
with ValueError naming the field or key, on every database, before any SQL; the caller's
transaction is never harmed. Run on PostgreSQL (BROCKMAN_TEST_DB=postgres) for the claims
about an aborted transaction; the refusals themselves hold on every database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.signals import post_save
from django.template import Context, Template
from django.test import RequestFactory, override_settings

from django_brockman import arecord_trigger, record_trigger, record_triggers, trigger_on
from django_brockman.models import Trigger
from tests.conftest import run_async
from tests.testapp.models import Order

NUL = "\x00"

# (what the caller passes, the text the error names). Each one is refused on every
# database; the comment says which database cannot store it, or what it would change.
REFUSED: list[tuple[dict[str, Any], str]] = [
    # PostgreSQL: text columns cannot hold NUL; jsonb refuses \u0000 ("unsupported
    # Unicode escape sequence"). Either aborts the caller's transaction.
    ({"action": f"view{NUL}ed"}, "action contains a NUL"),
    ({"obj": f"page{NUL}"}, "obj contains a NUL"),
    ({"actor_id": f"a{NUL}"}, "actor_id contains a NUL"),
    ({"variables": {f"k{NUL}": 1}}, r"a key of variables \('k\\x00'\) contains a NUL"),
    ({"identities": {"email": f"a{NUL}@example.com"}}, r"identities\['email'\] contains a NUL"),
    ({"attributes": {"tags": ["ok", NUL]}}, r"attributes\['tags'\] \(in its list\) contains"),
    # Every database: a surrogate is no Unicode character. A lone one fails to encode
    # (or fails jsonb's and MariaDB's JSON checks); a pair comes back as one character.
    ({"action": "a\ud800"}, r"action contains the surrogate U\+D800"),
    ({"variables": {"k": "\udc00"}}, r"variables\['k'\] contains the surrogate U\+DC00"),
    ({"variables": {"\ud83d\ude00": 1}}, r"a key of variables .* contains the surrogate U\+D83D"),
    ({"variables": {"k": ["\ud83d\ude00"]}}, r"variables\['k'\] \(in its list\) contains"),
    # SQLite's and MariaDB's JSON functions read integers beyond 64 bits as floats.
    ({"variables": {"n": 2**63}}, r"variables\['n'\] is 9223372036854775808, outside"),
    ({"variables": {"n": [-(2**63) - 1]}}, r"variables\['n'\] \(in its list\) is -92"),
    ({"variables": {"n": 10**5000}}, r"variables\['n'\] is an integer of 16610 bits, outside"),
    # PostgreSQL reads floats of 1e16 and more back as integers; JSON has no nan or inf.
    ({"variables": {"x": 1e16}}, r"variables\['x'\] is 1e\+16"),
    ({"variables": {"x": [-1.7976931348623157e308]}}, r"variables\['x'\] \(in its list\) is"),
    ({"variables": {"x": float("nan")}}, r"variables\['x'\] is nan"),
    ({"variables": {"x": float("-inf")}}, r"variables\['x'\] is -inf"),
]


def call(**fields: Any) -> dict[str, Any]:
    return {"action": "viewed", "obj": "page", "actor_id": "a", **fields}


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "message"), REFUSED)
def test_record_trigger_refuses_what_a_database_cannot_store(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        record_trigger(None, **call(**fields))

    assert not Trigger.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "message"), REFUSED)
def test_record_triggers_refuses_what_a_database_cannot_store_naming_the_item(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^Trigger 1: .*{message}"):
        record_triggers(None, [call(), call(**fields)])

    assert not Trigger.objects.exists()


@pytest.mark.django_db
@override_settings(BROCKMAN_ENABLED=False)
def test_record_trigger_disabled_still_refuses_a_nul() -> None:
    with pytest.raises(ValueError, match="obj contains a NUL"):
        record_trigger(None, "viewed", NUL)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value",
    [
        2**63 - 1,
        -(2**63),
        9999999999999998.0,
        -9999999999999998.0,
        5e-324,
        "\\u0000 is text, not a NUL",
        "\U0001f600 \u2028 \x01 \x7f \ufeff \uffff",
    ],
)
def test_record_trigger_keeps_the_values_at_the_edges(value: object) -> None:
    record_trigger(None, **call(variables={"v": value, "l": [value]}))

    assert Trigger.objects.get().variables == {"v": value, "l": [value]}


@pytest.mark.django_db
def test_record_trigger_stores_minus_zero_as_zero() -> None:
    # PostgreSQL's jsonb keeps no sign on zero: every database stores 0.0.
    trigger = record_trigger(None, **call(variables={"x": -0.0, "l": [-0.0]}))

    assert trigger is not None
    for stored in (trigger.variables, Trigger.objects.get().variables):
        assert [str(stored["x"]), str(stored["l"][0])] == ["0.0", "0.0"]


# The caller's transaction survives a refused trigger (on PostgreSQL a NUL that reached
# the INSERT would abort it, and the user's own row would be lost with it).


def save_user_then(record: Callable[[], object]) -> None:
    with transaction.atomic():
        User.objects.create_user("ada")
        with pytest.raises(ValueError, match="contains a NUL"):
            record()
        User.objects.create_user("bob")


def assert_users_kept_and_nothing_recorded() -> None:
    assert sorted(User.objects.values_list("username", flat=True)) == ["ada", "bob"]
    assert not Trigger.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_refused_nul_keeps_the_callers_transaction_record_trigger() -> None:
    save_user_then(lambda: record_trigger(None, **call(variables={"k": NUL})))

    assert_users_kept_and_nothing_recorded()


@pytest.mark.django_db(transaction=True)
def test_refused_nul_keeps_the_callers_transaction_record_triggers() -> None:
    save_user_then(lambda: record_triggers(None, [call(), call(obj=NUL)]))

    assert_users_kept_and_nothing_recorded()


@pytest.mark.django_db(transaction=True)
def test_refused_nul_keeps_the_callers_transaction_arecord_trigger() -> None:
    save_user_then(lambda: run_async(arecord_trigger(None, **call(identities={NUL: "x"}))))

    assert_users_kept_and_nothing_recorded()


def render_tag() -> str:
    request = RequestFactory().get("/")
    request.fl_actor_id = "a"  # type: ignore[attr-defined]
    template = Template('{% load brockman %}{% record_trigger "viewed" "page" note=note %}')
    return template.render(Context({"request": request, "note": f"a{NUL}b"}))


@pytest.mark.django_db(transaction=True)
@override_settings(DEBUG=True)
def test_refused_nul_keeps_the_callers_transaction_template_tag() -> None:
    save_user_then(render_tag)

    assert_users_kept_and_nothing_recorded()


@pytest.mark.django_db(transaction=True)
def test_refused_nul_in_template_tag_is_logged_in_production(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with transaction.atomic():
        User.objects.create_user("ada")
        assert render_tag() == ""
        User.objects.create_user("bob")

    assert_users_kept_and_nothing_recorded()
    assert "variables['note'] contains a NUL" in caplog.text


@pytest.fixture
def nul_hook() -> Iterator[None]:
    hook = trigger_on(
        post_save,
        sender=Order,
        action="purchased",
        obj=lambda instance, **kw: f"order {instance.pk}{NUL}",
        actor_id="a",
    )
    yield
    hook.disconnect()


@pytest.mark.django_db(transaction=True)
@override_settings(DEBUG=True)
@pytest.mark.usefixtures("nul_hook")
def test_refused_nul_keeps_the_callers_transaction_trigger_on() -> None:
    with transaction.atomic():
        User.objects.create_user("ada")
        with pytest.raises(ValueError, match="obj contains a NUL"):
            Order.objects.create(customer_id=1, total=1)
        User.objects.create_user("bob")

    assert_users_kept_and_nothing_recorded()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("nul_hook")
def test_refused_nul_in_trigger_on_keeps_the_save_in_production(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with transaction.atomic():
        User.objects.create_user("ada")
        Order.objects.create(customer_id=1, total=1)
        User.objects.create_user("bob")

    assert_users_kept_and_nothing_recorded()
    assert Order.objects.count() == 1
    assert "obj contains a NUL" in caplog.text
