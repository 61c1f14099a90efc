"""The Trigger admin and its health page: what they show, who may see them, no HTTP."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import responses
from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone

from django_brockman import counters
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


def count(**results: int | str) -> None:
    with transaction.atomic():
        counters.add("default", timezone.now(), **results)  # type: ignore[arg-type]


def tiles(page: str) -> dict[str, tuple[str, str]]:
    """Each tile's id: (where it links, its figure)."""
    found = re.findall(
        r'<a class="brockman-tile[^"]*" id="brockman-([\w-]+)" href="([^"]+)">.*?'
        r'<span class="figure">([^<]*)</span>',
        page,
        re.S,
    )
    return {name: (href.replace("&amp;", "&"), figure) for name, href, figure in found}


@override_settings(BROCKMAN_API_KEY=SECRET)
def test_health_shows_counts_oldest_failures_and_hourly_sends(admin_client: Client) -> None:
    now = timezone.now()
    add(Status.PENDING, created_at=now - dt.timedelta(hours=2, minutes=1))
    for _ in range(3):
        add(Status.SENT, updated_at=now, sent_at=now)
    add(Status.FAILED, updated_at=now)
    count(sent=3)
    count(failed=1, error="HTTP 400: <b>bad</b>")

    page = admin_client.get(HEALTH).content.decode()

    found = tiles(page)
    assert found["count-pending"] == (f"{CHANGELIST}?status__exact=pending", "1")
    assert found["waiting-retry"] == (
        f"{CHANGELIST}?status__exact=pending&attempts__gte=1",
        "0",
    )
    assert found["count-sending"] == (f"{CHANGELIST}?status__exact=sending", "0")
    assert found["count-failed"] == (f"{CHANGELIST}?status__exact=failed", "1")
    assert found["sent-24h"] == (f"{CHANGELIST}?status__exact=sent", "3")
    assert found["failed-24h"] == (f"{CHANGELIST}?status__exact=failed", "1")
    assert found["oldest-pending"][1] == "2\xa0hours, 1\xa0minute"
    assert found["last-sent"][1] == "0\xa0minutes ago"
    assert "HTTP 400: &lt;b&gt;bad&lt;/b&gt;" in page
    assert re.search(r'id="brockman-state">\s*Delivery is <strong>degraded</strong>', page)
    assert re.findall(r'class="bar" [^>]*data-count="(\d+)"', page) == ["0"] * 23 + ["3"]
    assert re.findall(r'class="bar-failures" [^>]*data-count="(\d+)"', page) == ["0"] * 23 + ["1"]
    assert "logarithmic scale" in page
    assert "<script" not in page.split('id="content-main"')[1]
    assert SECRET not in page


def test_health_tiles_lead_to_lists_that_filter(admin_client: Client) -> None:
    add(Status.PENDING, obj="first try")
    add(Status.PENDING, obj="retrying", attempts=2)

    found = tiles(admin_client.get(HEALTH).content.decode())
    listed = admin_client.get(found["waiting-retry"][0]).content.decode()

    assert found["waiting-retry"][1] == "1"
    assert "retrying" in listed
    assert "first try" not in listed


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

    # Session and user, then five for the figures, however many rows there are.
    with django_assert_max_num_queries(7):  # type: ignore[operator]
        assert admin_client.get(HEALTH).status_code == 200


def test_trigger_page_shows_the_whole_last_error_and_offers_retry_now(
    admin_client: Client,
) -> None:
    error = "Could not reach FocusLab: connection refused " + "x" * 3000 + " the end"
    trigger = add(Status.FAILED, attempts=15, last_error=error)
    page_url = f"{CHANGELIST}{trigger.pk}/change/"

    page = admin_client.get(page_url).content.decode()

    assert error in page
    assert 'id="brockman-retry-now"' in page
    response = admin_client.post(f"{CHANGELIST}{trigger.pk}/retry/", follow=True)
    trigger.refresh_from_db()
    assert (trigger.status, trigger.attempts) == (Status.PENDING, 0)
    assert response.redirect_chain[-1][0] == page_url
    assert "1 trigger made due now." in response.content.decode()


def test_trigger_page_offers_no_retry_for_sent_or_without_change_permission(
    admin_client: Client,
) -> None:
    sent = add(Status.SENT)
    failed = add(Status.FAILED)

    assert (
        "brockman-retry-now"
        not in admin_client.get(f"{CHANGELIST}{sent.pk}/change/").content.decode()
    )
    viewer = staff("view_trigger")
    assert (
        "brockman-retry-now" not in viewer.get(f"{CHANGELIST}{failed.pk}/change/").content.decode()
    )
    assert viewer.post(f"{CHANGELIST}{failed.pk}/retry/").status_code == 403
    assert admin_client.get(f"{CHANGELIST}{failed.pk}/retry/").status_code == 405
    assert admin_client.post(f"{CHANGELIST}999999/retry/").status_code == 404
    assert Trigger.objects.get(pk=failed.pk).status == Status.FAILED


def test_retry_now_of_an_id_that_is_not_a_trigger_is_not_found(admin_client: Client) -> None:
    assert admin_client.post(f"{CHANGELIST}not-a-number/retry/").status_code == 404
