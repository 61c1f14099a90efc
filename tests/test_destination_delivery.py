"""Delivering to several destinations: each trigger with its own key and endpoint, a
refused destination stopped alone, --destination, and what status, admin and erasure
make of destinations. The API is mocked by responses; tests/test_destination_processes.py
runs real flushers against real receivers."""

from __future__ import annotations

import json
import threading
from io import StringIO
from typing import Any

import pytest
import responses
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings

from django_brockman.engine import FlushResult, flush, flush_loop
from django_brockman.erasure import forget_actor
from django_brockman.models import Status, Trigger
from tests.conftest import TRIGGER_URL

pytestmark = pytest.mark.django_db

EU_KEY = "eu-secret-key-0123"
EU_URL = "https://eu.focuslab.test/api/v1/trigger/"
TWO = {"default": {}, "eu": {"API_KEY": EU_KEY, "ENDPOINT": "https://eu.focuslab.test/api/v1/"}}
DEFAULT_KEY = "test-api-key-0123456789"


def make(count: int, destination: str = "default", actor: str = "actor") -> list[Trigger]:
    return [
        Trigger.objects.create(
            actor_id=f"{actor}-{n}", action="viewed", obj=f"page {n}", destination=destination
        )
        for n in range(count)
    ]


def calls_to(mocked_api: responses.RequestsMock, url: str) -> list[Any]:
    return [call.request for call in mocked_api.calls if call.request.url == url]


def rows(destination: str) -> list[tuple[str, int]]:
    triggers = Trigger.objects.filter(destination=destination).order_by("pk")
    return list(triggers.values_list("status", "attempts"))


@override_settings(BROCKMAN_DESTINATIONS=TWO)
@pytest.mark.parametrize("concurrency", [1, 4])
def test_flush_sends_each_trigger_with_its_destination_key_and_endpoint(
    mocked_api: responses.RequestsMock, concurrency: int
) -> None:
    default, eu = make(3), make(3, "eu")
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    mocked_api.add(responses.POST, EU_URL, status=201)

    result = flush(concurrency=concurrency)

    assert result.sent == 6
    assert result.refused == {}
    for url, key, triggers in ((TRIGGER_URL, DEFAULT_KEY, default), (EU_URL, EU_KEY, eu)):
        requests = calls_to(mocked_api, url)
        assert {r.headers["X-FL-API-KEY"] for r in requests} == {key}
        assert sorted(r.headers["Idempotency-Key"] for r in requests) == sorted(
            str(t.uuid) for t in triggers
        )


@override_settings(BROCKMAN_DESTINATIONS=TWO)
@pytest.mark.parametrize("status", [401, 403, 404])
@pytest.mark.parametrize("concurrency", [1, 3])
def test_flush_refused_destination_stops_alone_and_releases_its_rows_unspent(
    mocked_api: responses.RequestsMock, status: int, concurrency: int
) -> None:
    make(5, "eu")
    make(5)
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    mocked_api.add(responses.POST, EU_URL, status=status)

    result = flush(concurrency=concurrency, batch_size=4)

    assert rows("default") == [(Status.SENT, 1)] * 5
    assert rows("eu") == [(Status.PENDING, 0)] * 5
    assert list(result.refused) == ["eu"]
    assert result.error == result.refused["eu"]
    assert EU_KEY not in str(result)
    assert "destination 'eu' refused" in str(result)
    setting = "BROCKMAN_DESTINATIONS['eu']"
    assert setting + ("['ENDPOINT']" if status == 404 else "['API_KEY']") in result.error
    # Once refused, the destination is not asked again: at most what was in flight.
    assert len(calls_to(mocked_api, EU_URL)) <= concurrency
    assert not Trigger.objects.filter(claim_token__isnull=False).exists()


@override_settings(BROCKMAN_DESTINATIONS=TWO)
def test_flush_every_destination_refused_halts_the_run(
    mocked_api: responses.RequestsMock,
) -> None:
    make(3, "eu")
    make(3)
    mocked_api.add(responses.POST, TRIGGER_URL, status=401)
    mocked_api.add(responses.POST, EU_URL, status=401)

    result = flush(concurrency=1)

    assert set(result.refused) == {"eu", "default"}
    assert len(mocked_api.calls) == 2
    assert set(Trigger.objects.values_list("status", "attempts")) == {(Status.PENDING, 0)}


@override_settings(BROCKMAN_DESTINATIONS=TWO)
def test_flush_limited_to_destinations(mocked_api: responses.RequestsMock) -> None:
    make(2)
    make(2, "eu")
    mocked_api.add(responses.POST, EU_URL, status=201)

    result = flush(concurrency=1, destinations=["eu"])

    assert (result.claimed, result.sent) == (2, 2)
    assert rows("default") == [(Status.PENDING, 0)] * 2
    with pytest.raises(ValueError, match="Unknown FocusLab destination 'us'"):
        flush(destinations=["us"])


@override_settings(BROCKMAN_DESTINATIONS={"default": {}, "eu": {"ENDPOINT": "https://eu.test/"}})
def test_flush_destination_without_key_is_a_configuration_error_before_any_claim() -> None:
    make(1, "eu")
    with pytest.raises(ImproperlyConfigured) as raised:
        flush()
    assert "BROCKMAN_DESTINATIONS['eu']['API_KEY'] is not set" in str(raised.value)
    assert DEFAULT_KEY not in str(raised.value)
    assert rows("eu") == [(Status.PENDING, 0)]
    # The other destination can be delivered meanwhile.
    with override_settings(BROCKMAN_BACKEND="django_brockman.backends.dummy.DummyBackend"):
        assert flush(destinations=["default"]).claimed == 0


@override_settings(
    BROCKMAN_DESTINATIONS={
        "default": {},
        "eu": {"BACKEND": "django_brockman.backends.locmem.LocmemBackend"},
    }
)
def test_flush_uses_each_destination_backend(mocked_api: responses.RequestsMock) -> None:
    from django_brockman.backends import locmem

    locmem.sent.clear()
    (eu,) = make(1, "eu")
    make(1)
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    assert flush(concurrency=1).sent == 2
    assert [t.uuid for t in locmem.sent] == [eu.uuid]
    assert len(mocked_api.calls) == 1


@override_settings(
    BROCKMAN_DESTINATIONS={"default": {}, "slow": {"API_KEY": "k", "TIMEOUT": 400}},
    BROCKMAN_LEASE_SECONDS=300,
)
def test_flush_lease_must_outlast_every_destination_timeout() -> None:
    with pytest.raises(
        ImproperlyConfigured, match=r"BROCKMAN_DESTINATIONS\['slow'\]\['TIMEOUT'\]"
    ):
        flush()


@pytest.mark.django_db(transaction=True)
@override_settings(BROCKMAN_DESTINATIONS=TWO)
def test_flush_loop_leaves_a_refused_destination_out_and_carries_on(
    mocked_api: responses.RequestsMock,
) -> None:
    make(2, "eu")
    make(2)
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    mocked_api.add(responses.POST, EU_URL, status=401)
    stop = threading.Event()
    runs: list[FlushResult] = []

    def report(result: FlushResult) -> None:
        runs.append(result)
        if len(runs) == 1:
            make(1, actor="later")  # recorded while the loop runs
        elif len(runs) == 3:
            stop.set()

    result = flush_loop(interval=0.01, stop=stop, report=report, concurrency=1)

    assert list(runs[0].refused) == ["eu"]
    assert runs[1].sent == 1  # the later default trigger: delivery carried on
    assert len(calls_to(mocked_api, EU_URL)) == 1
    assert list(result.refused) == ["eu"]
    assert rows("eu") == [(Status.PENDING, 0)] * 2
    assert rows("default") == [(Status.SENT, 1)] * 3


# --- brockman_flush --destination and its exit status --------------------------------


def flush_command(*args: str) -> str:
    out = StringIO()
    call_command("brockman_flush", *args, "--concurrency", "1", stdout=out)
    return out.getvalue()


@override_settings(BROCKMAN_DESTINATIONS=TWO)
def test_command_destination_option_limits_the_run(mocked_api: responses.RequestsMock) -> None:
    make(2)
    make(2, "eu")
    mocked_api.add(responses.POST, EU_URL, status=201)
    assert "Flushed: 2 sent" in flush_command("--destination", "eu")
    assert rows("default") == [(Status.PENDING, 0)] * 2
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    assert "Flushed: 2 sent" in flush_command("--destination", "eu", "--destination", "default")


@override_settings(BROCKMAN_DESTINATIONS=TWO)
def test_command_unknown_destination_exits_3() -> None:
    with pytest.raises(CommandError, match="Unknown FocusLab destination 'us'") as raised:
        flush_command("--destination", "us")
    assert raised.value.returncode == 3


@override_settings(BROCKMAN_DESTINATIONS=TWO)
def test_command_refused_destination_exits_3_after_delivering_the_rest(
    mocked_api: responses.RequestsMock,
) -> None:
    make(2)
    make(2, "eu")
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    mocked_api.add(responses.POST, EU_URL, status=403)
    with pytest.raises(CommandError, match="FocusLab refused the destination 'eu'") as raised:
        flush_command()
    assert raised.value.returncode == 3
    assert EU_KEY not in str(raised.value)
    assert rows("default") == [(Status.SENT, 1)] * 2


# --- Status, health page, admin, erasure ----------------------------------------------


@override_settings(BROCKMAN_DESTINATIONS=TWO)
def test_status_reports_counts_per_destination() -> None:
    make(2)
    make(1, "eu")
    Trigger.objects.create(actor_id="a", action="x", obj="y", destination="old", status="failed")
    out = StringIO()
    call_command("brockman_status", stdout=out)
    text = out.getvalue()
    assert "Destination default: 2 pending, 0 sending, 0 failed." in text
    assert "Destination eu: 1 pending, 0 sending, 0 failed." in text
    # Rows of a destination no longer configured are counted, not hidden.
    assert "Destination old: 0 pending, 0 sending, 1 failed." in text
    out = StringIO()
    call_command("brockman_status", "--json", stdout=out)
    figures = json.loads(out.getvalue())
    assert figures["destinations"]["eu"] == {"pending": 1, "sending": 0, "failed": 0}
    assert figures["counts"] == {"pending": 3, "sending": 0, "failed": 1}


@override_settings(BROCKMAN_DESTINATIONS=TWO)
def test_admin_filters_and_shows_destination_and_health_per_destination(
    admin_client: Client,
) -> None:
    make(1, actor="home")
    make(2, "eu", actor="abroad")
    page = admin_client.get("/admin/django_brockman/trigger/", {"destination": "eu"})
    text = page.content.decode()
    assert "abroad-0" in text
    assert "home-0" not in text
    assert "?destination=eu" in text  # the list filter's link
    # Its choices come from the settings, not from a scan of the table.
    assert "?destination=default" in text
    health = admin_client.get("/admin/django_brockman/trigger/health/").content.decode()
    assert 'id="brockman-destination-eu"' in health
    assert 'destination=eu&amp;status__exact=pending">2<' in health
    assert EU_KEY not in health
    assert EU_KEY not in text


@override_settings(BROCKMAN_DESTINATIONS=TWO)
def test_forget_actor_erases_every_destination() -> None:
    for destination in ("default", "eu"):
        Trigger.objects.create(actor_id="ada", action="a", obj="o", destination=destination)
    Trigger.objects.create(actor_id="bob", action="a", obj="o", destination="eu")
    assert forget_actor("ada").deleted == 2
    assert list(Trigger.objects.values_list("actor_id", flat=True)) == ["bob"]


@override_settings(BROCKMAN_DESTINATIONS=TWO)
def test_router_repr_and_errors_never_show_a_key() -> None:
    from django_brockman.backends.router import DestinationRouter

    router = DestinationRouter()
    assert EU_KEY not in repr(router)
    assert DEFAULT_KEY not in repr(router)
    assert "eu" in repr(router)
    with pytest.raises(LookupError, match="No destination 'us'"):
        router.backend_for("us")


@override_settings(BROCKMAN_DESTINATIONS=TWO)
def test_flush_takes_one_destination_name_as_a_str(mocked_api: responses.RequestsMock) -> None:
    make(1)
    make(1, "eu")
    mocked_api.add(responses.POST, EU_URL, status=201)
    assert flush(concurrency=1, destinations="eu").sent == 1
    assert rows("default") == [(Status.PENDING, 0)]
