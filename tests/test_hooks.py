"""hooks: trigger_on turns any signal into a trigger, inside or outside a request."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.db.models.signals import post_save
from django.dispatch import Signal
from django.test import RequestFactory, override_settings

from django_brockman.hooks import Hook, trigger_on
from django_brockman.models import Trigger
from tests.conftest import run_async
from tests.testapp.models import Order

pytestmark = pytest.mark.django_db

page_shown = Signal()


@pytest.fixture
def connected() -> Iterator[list[Hook]]:
    """Hooks the test connects; disconnected afterwards so no test sees another's."""
    hooks: list[Hook] = []
    yield hooks
    for hook in hooks:
        hook.disconnect()


def order_hook(**overrides: Any) -> Hook:
    options: dict[str, Any] = {
        "sender": Order,
        "action": "purchased",
        "obj": "order",
        "actor_id": lambda instance, **kw: str(instance.customer_id),
        "variables": lambda instance, **kw: {"total": float(instance.total)},
    }
    return trigger_on(post_save, **{**options, **overrides})


def rows() -> list[tuple[str, str, str]]:
    return list(Trigger.objects.order_by("id").values_list("actor_id", "action", "obj"))


def test_trigger_on_records_outside_a_request(connected: list[Hook]) -> None:
    connected.append(order_hook())

    Order.objects.create(customer_id=42, total=9.5)

    stored = Trigger.objects.get()
    assert (stored.actor_id, stored.action, stored.obj) == ("42", "purchased", "order")
    assert (stored.variables, stored.identities) == ({"total": 9.5}, {})


def test_trigger_on_filters_by_sender(connected: list[Hook]) -> None:
    connected.append(order_hook())

    User.objects.create_user("ada")

    assert rows() == []


def test_trigger_on_when_decides(connected: list[Hook]) -> None:
    connected.append(order_hook(when=lambda created, **kw: created))

    order = Order.objects.create(customer_id=42)
    order.save()

    assert rows() == [("42", "purchased", "order")]


def test_trigger_on_computes_action_and_obj(connected: list[Hook]) -> None:
    connected.append(
        order_hook(
            action=lambda created, **kw: "created" if created else "changed",
            obj=lambda sender, **kw: sender.__name__.lower(),
        )
    )

    order = Order.objects.create(customer_id=42)
    order.save()

    assert rows() == [("42", "created", "order"), ("42", "changed", "order")]


def test_trigger_on_twice_connects_once(connected: list[Hook]) -> None:
    connected.extend([order_hook(), order_hook()])

    Order.objects.create(customer_id=42)

    assert len(rows()) == 1


def test_trigger_on_with_own_dispatch_uids_connects_both(connected: list[Hook]) -> None:
    connected.extend([order_hook(dispatch_uid="first"), order_hook(dispatch_uid="second")])

    Order.objects.create(customer_id=42)

    assert len(rows()) == 2


def test_trigger_on_hook_survives_garbage_collection(connected: list[Hook]) -> None:
    uid = order_hook().dispatch_uid  # the returned Hook is dropped at once
    gc.collect()

    Order.objects.create(customer_id=42)

    assert len(rows()) == 1
    connected.append(order_hook(dispatch_uid=uid))


def test_hook_disconnect_stops_recording(connected: list[Hook]) -> None:
    hook = order_hook()

    assert hook.disconnect() is True
    Order.objects.create(customer_id=42)

    assert rows() == []


def test_trigger_on_uses_request_sent_with_signal(connected: list[Hook]) -> None:
    connected.append(trigger_on(page_shown, action="shown", obj="page"))
    user = User.objects.create_user("ada", email="ada@example.com")
    request = RequestFactory().get("/")
    request.user = user
    request.fl_actor_id = "browser-1"  # type: ignore[attr-defined]

    page_shown.send(sender=None, request=request)

    stored = Trigger.objects.get()
    assert stored.actor_id == "browser-1"
    assert stored.identities == {"user_id": user.pk, "email": "ada@example.com"}


def test_trigger_on_works_with_asend(connected: list[Hook]) -> None:
    connected.append(trigger_on(page_shown, action="shown", obj="page", actor_id="a-1"))

    run_async(page_shown.asend(sender=None))

    assert rows() == [("a-1", "shown", "page")]


def test_trigger_on_error_is_logged_and_save_succeeds_in_production(
    connected: list[Hook], caplog: pytest.LogCaptureFixture
) -> None:
    connected.append(order_hook(variables=lambda instance, **kw: {"total": instance.total}))

    Order.objects.create(customer_id=42, total=Decimal("9.50"))

    assert Order.objects.count() == 1
    assert rows() == []
    assert "the signal hook 'django_brockman:purchased:order' failed" in caplog.text
    assert "variables['total'] is a Decimal" in caplog.text


@override_settings(DEBUG=True)
def test_trigger_on_error_raises_in_debug(connected: list[Hook]) -> None:
    connected.append(order_hook(actor_id=None))

    with pytest.raises(ValueError, match="No actor for this trigger"):
        Order.objects.create(customer_id=42)


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
def test_trigger_on_with_a_request_without_actor_records_nothing_and_warns(
    connected: list[Hook], debug: bool, caplog: pytest.LogCaptureFixture
) -> None:
    connected.append(trigger_on(page_shown, action="shown", obj="page"))
    request = RequestFactory().get("/")
    request.user = AnonymousUser()

    with override_settings(DEBUG=debug):
        page_shown.send(sender=None, request=request)

    assert rows() == []
    assert [(r.name, r.levelname) for r in caplog.records] == [
        ("django_brockman.capture", "WARNING")
    ]
