"""The Trigger admin and its health page: what they show, who may see them, no HTTP."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import responses
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from django.utils import timezone

from django_brockman.models import Status, Trigger

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/django_brockman/trigger/"
HEALTH = "/admin/django_brockman/trigger/health/"
SECRET = "admin-page-secret-key-31415"


def add(status: str = Status.PENDING, **fields: object) -> Trigger:
    values: dict[str, object] = {"actor_id": "actor-1", "action": "viewed", "obj": "page"}
    return Trigger.objects.create(status=status, **(values | fields))


def staff(*permissions: str) -> Client:
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


def test_changelist_lists_triggers_and_links_the_health_page(admin_client: Client) -> None:
    add(obj="pricing page", attempts=2)

    page = admin_client.get(CHANGELIST).content.decode()

    assert "pricing page" in page
    assert f'href="{HEALTH}"' in page
    assert "Retry now" in page
    assert "Mark failed" in page


def test_changelist_search_by_actor_id_is_exact(admin_client: Client) -> None:
    add(actor_id="actor-1", obj="first")
    add(actor_id="actor-12", obj="second")

    page = admin_client.get(CHANGELIST, {"q": "actor-1"}).content.decode()

    assert "first" in page
    assert "second" not in page


def test_changelist_search_by_uuid_finds_that_trigger(admin_client: Client) -> None:
    wanted = add(obj="wanted")
    add(obj="other")

    page = admin_client.get(CHANGELIST, {"q": str(wanted.uuid)}).content.decode()

    assert "wanted" in page
    assert "other" not in page


def test_changelist_filters_by_status(admin_client: Client) -> None:
    add(Status.FAILED, obj="broken")
    add(Status.SENT, obj="delivered")

    page = admin_client.get(CHANGELIST, {"status__exact": "failed"}).content.decode()

    assert "broken" in page
    assert "delivered" not in page


@override_settings(BROCKMAN_API_KEY=SECRET)
def test_change_view_shows_payload_and_error_read_only_and_never_the_key(
    admin_client: Client,
) -> None:
    trigger = add(
        Status.FAILED,
        identities={"email": "ada@example.com"},
        last_error="FocusLab rejected the trigger as malformed | HTTP 400",
    )

    page = admin_client.get(f"{CHANGELIST}{trigger.pk}/change/").content.decode()

    assert "<pre" in page
    assert "&quot;object&quot;: &quot;page&quot;" in page
    assert "&quot;captured_identities&quot;: {\n    &quot;email&quot;" in page
    assert "<pre" in page.split("Last error")[1]
    assert "malformed | HTTP 400" in page
    assert "View trigger" in page
    assert 'name="action"' not in page  # no editable field
    assert 'name="_save"' not in page
    assert SECRET not in page


def test_add_view_is_refused(admin_client: Client) -> None:
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403


def test_change_view_refuses_a_save(admin_client: Client) -> None:
    trigger = add(Status.FAILED)

    response = admin_client.post(f"{CHANGELIST}{trigger.pk}/change/", {"status": "sent"})

    assert response.status_code == 403
    assert Trigger.objects.get(pk=trigger.pk).status == Status.FAILED


def test_retry_now_action_requeues_the_selected_triggers(admin_client: Client) -> None:
    failed = add(Status.FAILED, attempts=15, last_error="gave up")
    sent = add(Status.SENT, attempts=1)

    response = admin_client.post(
        CHANGELIST,
        {"action": "retry_now", "_selected_action": [failed.pk, sent.pk]},
        follow=True,
    )

    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.status, failed.attempts) == (Status.PENDING, 0)
    assert failed.next_attempt_at <= timezone.now()
    assert sent.status == Status.SENT
    assert "1 trigger made due now." in response.content.decode()


def test_mark_failed_action_warns_about_rows_a_flusher_holds(admin_client: Client) -> None:
    pending = add(Status.PENDING)
    held = add(Status.SENDING, next_attempt_at=timezone.now() + dt.timedelta(minutes=5))

    response = admin_client.post(
        CHANGELIST,
        {"action": "mark_failed", "_selected_action": [pending.pk, held.pk]},
        follow=True,
    )

    page = response.content.decode()
    assert Trigger.objects.get(pk=pending.pk).status == Status.FAILED
    assert Trigger.objects.get(pk=held.pk).status == Status.SENDING
    assert "1 trigger marked failed." in page
    assert "1 was left alone: a running flusher is sending it." in page


def test_actions_need_change_permission() -> None:
    trigger = add(Status.FAILED)
    client = staff("view_trigger")

    client.post(CHANGELIST, {"action": "retry_now", "_selected_action": [trigger.pk]})

    assert Trigger.objects.get(pk=trigger.pk).status == Status.FAILED


@override_settings(BROCKMAN_API_KEY=SECRET)
def test_health_shows_counts_oldest_failures_and_hourly_sends(admin_client: Client) -> None:
    now = timezone.now()
    add(Status.PENDING, created_at=now - dt.timedelta(hours=2, minutes=1))
    for _ in range(3):
        add(Status.SENT, updated_at=now, sent_at=now)
    add(Status.FAILED, updated_at=now)

    page = admin_client.get(HEALTH).content.decode()

    counts = dict(re.findall(r'status__exact=(\w+)">(\d+)</a>', page))
    assert counts == {"pending": "1", "sending": "0", "failed": "1", "sent": "3"}
    assert re.search(r'id="brockman-oldest-pending">.*?2\xa0hours', page, re.S)
    assert re.search(r'id="brockman-failed-24h">.*?"figure">1<', page, re.S)
    assert re.findall(r'data-count="(\d+)"', page) == ["0"] * 23 + ["3"]
    assert "<script" not in page.split('id="content-main"')[1]
    assert SECRET not in page


@override_settings(LANGUAGE_CODE="de", USE_THOUSAND_SEPARATOR=True)
def test_health_chart_coordinates_are_not_localized(admin_client: Client) -> None:
    add(Status.SENT, updated_at=timezone.now())

    page = admin_client.get(HEALTH).content.decode()

    assert re.search(r'<rect class="bar" x="\d+\.\d+"', page)


def test_health_sends_no_http(admin_client: Client, mocked_api: responses.RequestsMock) -> None:
    add(Status.PENDING)

    assert admin_client.get(HEALTH).status_code == 200
    assert admin_client.get(CHANGELIST).status_code == 200
    assert len(mocked_api.calls) == 0


def test_health_needs_a_staff_login(client: Client) -> None:
    response = client.get(HEALTH)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_health_is_forbidden_without_trigger_permission() -> None:
    assert staff().get(HEALTH).status_code == 403


def test_health_is_allowed_with_view_permission() -> None:
    assert staff("view_trigger").get(HEALTH).status_code == 200


def test_health_uses_a_fixed_number_of_queries(
    admin_client: Client, django_assert_max_num_queries: object
) -> None:
    for status in Status.values:
        add(status)
    admin_client.get(HEALTH)  # warm the session and user caches

    with django_assert_max_num_queries(6):  # type: ignore[operator]
        assert admin_client.get(HEALTH).status_code == 200
