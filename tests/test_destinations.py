"""BROCKMAN_DESTINATIONS: named FocusLab projects, their fallbacks, checks and migration."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from django_brockman.checks import check_settings
from django_brockman.destinations import (
    DEFAULT,
    Destination,
    all_destinations,
    get_destination,
    validate_destination,
)

TWO = {
    "default": {},
    "eu": {"API_KEY": "eu-secret-key-0123", "ENDPOINT": "http://127.0.0.1:9/eu/", "TIMEOUT": 3},
}


def ids() -> list[str]:
    return [message.id for message in check_settings()]  # type: ignore[misc]


def test_destinations_absent_give_default_from_single_settings() -> None:
    (only,) = all_destinations().values()
    assert only == Destination(
        name=DEFAULT,
        api_key="test-api-key-0123456789",
        endpoint="https://focuslab.test/api/v1/",
        timeout=10.0,
        backend="django_brockman.backends.http.HttpBackend",
    )


@override_settings(BROCKMAN_DESTINATIONS=TWO)
def test_destinations_default_inherits_settings_and_others_their_own_options() -> None:
    assert get_destination("default").api_key == "test-api-key-0123456789"
    eu = get_destination("eu")
    assert (eu.api_key, eu.endpoint, eu.timeout) == (
        "eu-secret-key-0123",
        "http://127.0.0.1:9/eu/",
        3.0,
    )


@override_settings(BROCKMAN_DESTINATIONS={"default": {}, "us": {"ENDPOINT": "https://us.test/"}})
def test_destinations_other_than_default_never_borrow_the_default_key() -> None:
    assert get_destination("us").api_key == ""


@override_settings(BROCKMAN_DESTINATIONS=TWO)
def test_destinations_repr_hides_the_key() -> None:
    assert "eu-secret-key-0123" not in repr(get_destination("eu"))
    assert "eu-secret-key-0123" not in repr(all_destinations())


@override_settings(BROCKMAN_DESTINATIONS=TWO)
@pytest.mark.parametrize("call", [get_destination, validate_destination])
def test_destinations_unknown_name_is_refused_naming_the_known(call: Any) -> None:
    with pytest.raises(ValueError, match=r"Unknown FocusLab destination 'us'.*'default', 'eu'"):
        call("us")


def test_destinations_name_must_be_text() -> None:
    with pytest.raises(TypeError, match="destination must be a str, not int"):
        validate_destination(1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (TWO, []),
        ({"eu": {}}, ["brockman.E050"]),
        (["default"], ["brockman.E050"]),
        ({"default": {}, "e u": {}}, ["brockman.E051"]),
        ({"default": {}, "x" * 65: {}}, ["brockman.E051"]),
        ({"default": {"APIKEY": "typo"}}, ["brockman.E052"]),
        ({"default": "https://focuslab.test/"}, ["brockman.E052"]),
    ],
)
def test_check_destinations(value: object, expected: list[str]) -> None:
    with override_settings(BROCKMAN_DESTINATIONS=value):
        assert ids() == expected


@override_settings(
    BROCKMAN_DESTINATIONS={"default": {"API_KEY": "destination-secret-4242"}, "x y": {}}
)
def test_check_destinations_messages_never_show_a_key() -> None:
    assert all("destination-secret-4242" not in str(message) for message in check_settings())


def _filenode() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_filenode('django_brockman_trigger')")
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="checks PostgreSQL's storage")
def test_destination_migration_rewrites_no_table_on_postgresql() -> None:
    """A rewrite gives the table a new file; adding a column with a constant default
    must not, so the migration is safe on a large live table."""
    executor = MigrationExecutor(connection)
    before, after = (
        ("django_brockman", "0004_queue_index_postgresql_only"),
        ("django_brockman", "0005_trigger_destination"),
    )
    executor.migrate([before])
    try:
        node = _filenode()
        executor = MigrationExecutor(connection)
        executor.migrate([after])
        assert _filenode() == node
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes("django_brockman"))


def refuse(request: object) -> bool:
    """A BROCKMAN_CONSENT that refuses everyone."""
    return False


# --- Recording: every form stores the destination; an unknown one is refused ---------

EU = {
    "default": {},
    "eu": {"API_KEY": "eu-secret-key-0123", "ENDPOINT": "https://eu.focuslab.test/api/v1/"},
}
EU_URL = "https://eu.focuslab.test/api/v1/trigger/"


@pytest.mark.django_db
@override_settings(BROCKMAN_DESTINATIONS=EU)
def test_record_trigger_stores_destination_default_when_left_out() -> None:
    from django_brockman import record_trigger

    eu = record_trigger(None, "viewed", "page", actor_id="a", destination="eu")
    plain = record_trigger(None, "viewed", "page", actor_id="a")
    assert eu is not None
    assert plain is not None
    eu.refresh_from_db()
    plain.refresh_from_db()
    assert (eu.destination, plain.destination) == ("eu", "default")


@pytest.mark.django_db
@override_settings(BROCKMAN_DESTINATIONS=EU)
def test_record_triggers_destination_per_item_or_common() -> None:
    from django_brockman import record_triggers
    from django_brockman.models import Trigger

    record_triggers(
        None,
        [
            {"action": "a", "obj": "o", "actor_id": "x"},
            {"action": "a", "obj": "o", "actor_id": "x", "destination": "default"},
        ],
        destination="eu",
    )
    assert sorted(Trigger.objects.values_list("destination", flat=True)) == ["default", "eu"]


@pytest.mark.django_db
@override_settings(BROCKMAN_DESTINATIONS=EU)
def test_record_triggers_partial_refuses_an_unknown_destination_per_item() -> None:
    from django_brockman import record_triggers
    from django_brockman.models import Trigger

    results = record_triggers(
        None,
        [
            {"action": "a", "obj": "o", "actor_id": "x"},
            {"action": "a", "obj": "o", "actor_id": "x", "destination": "us"},
            {"action": "a", "obj": "o", "actor_id": "x", "destination": "default"},
        ],
        destination="eu",
        partial=True,
    )

    assert [result.stored for result in results] == [True, False, True]
    assert isinstance(results[1].error, ValueError)
    assert str(results[1].error).startswith("Trigger 1: Unknown FocusLab destination 'us'")
    assert sorted(Trigger.objects.values_list("destination", flat=True)) == ["default", "eu"]


@pytest.mark.django_db
@override_settings(BROCKMAN_DESTINATIONS=EU)
def test_record_triggers_partial_refuses_an_unknown_common_destination_at_once() -> None:
    from django_brockman import record_triggers
    from django_brockman.models import Trigger

    with pytest.raises(ValueError, match="Unknown FocusLab destination 'us'"):
        record_triggers(
            None, [{"action": "a", "obj": "o", "actor_id": "x"}], destination="us", partial=True
        )
    assert not Trigger.objects.exists()


@pytest.mark.django_db
@override_settings(BROCKMAN_DESTINATIONS=EU)
def test_arecord_trigger_stores_destination() -> None:
    from django_brockman import arecord_trigger
    from django_brockman.models import Trigger
    from tests.conftest import run_async

    run_async(arecord_trigger(None, "viewed", "page", actor_id="a", destination="eu"))
    assert list(Trigger.objects.values_list("destination", flat=True)) == ["eu"]


@pytest.mark.django_db
@override_settings(BROCKMAN_DESTINATIONS=EU)
def test_template_tag_stores_destination(rf: Any) -> None:
    from django.template import Context, Template

    from django_brockman.models import Trigger

    request = rf.get("/")
    request.fl_actor_id = "visitor-1"
    Template('{% load brockman %}{% record_trigger "viewed" "page" destination="eu" %}').render(
        Context({"request": request})
    )
    assert list(Trigger.objects.values_list("destination", flat=True)) == ["eu"]


@pytest.mark.django_db
@override_settings(BROCKMAN_DESTINATIONS=EU)
def test_trigger_on_hook_stores_destination_and_refuses_unknown_at_connect() -> None:
    from django.dispatch import Signal

    from django_brockman import trigger_on
    from django_brockman.models import Trigger

    signal = Signal()
    with pytest.raises(ValueError, match="Unknown FocusLab destination 'us'"):
        trigger_on(signal, action="a", obj="o", actor_id="x", destination="us")
    hook = trigger_on(signal, action="a", obj="o", actor_id="x", destination="eu")
    try:
        signal.send(sender=None)
    finally:
        hook.disconnect()
    assert list(Trigger.objects.values_list("destination", flat=True)) == ["eu"]


@pytest.mark.django_db
@override_settings(BROCKMAN_DESTINATIONS=EU)
@pytest.mark.parametrize(
    "settings",
    [{}, {"BROCKMAN_ENABLED": False}, {"BROCKMAN_CONSENT": "tests.test_destinations.refuse"}],
    ids=["recording", "disabled", "consent-refused"],
)
def test_unknown_destination_refused_at_record_time_even_when_not_recording(
    settings: dict[str, Any], rf: Any
) -> None:
    from django_brockman import arecord_trigger, record_trigger, record_triggers
    from django_brockman.models import Trigger
    from tests.conftest import run_async

    request = rf.get("/")
    with override_settings(**settings):
        with pytest.raises(ValueError, match="Unknown FocusLab destination 'us'"):
            record_trigger(request, "viewed", "page", actor_id="a", destination="us")
        with pytest.raises(ValueError, match="Trigger 1: Unknown FocusLab destination 'us'"):
            record_triggers(
                request,
                [
                    {"action": "a", "obj": "o", "actor_id": "x"},
                    {"action": "a", "obj": "o", "actor_id": "x", "destination": "us"},
                ],
            )
        with pytest.raises(ValueError, match="Unknown FocusLab destination 'us'"):
            record_triggers(request, [], destination="us")
        with pytest.raises(ValueError, match="Unknown FocusLab destination 'us'"):
            run_async(arecord_trigger(request, "viewed", "page", actor_id="a", destination="us"))
    assert not Trigger.objects.exists()


# --- Per-destination checks ---------------------------------------------------------


def deploy_ids() -> list[str]:
    from django_brockman.checks import check_deploy_settings

    return [message.id for message in check_deploy_settings()]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"API_KEY": "k", "ENDPOINT": "ftp://eu.test/"}, ["brockman.E053"]),
        ({"API_KEY": "k", "TIMEOUT": 0}, ["brockman.E054"]),
        ({"API_KEY": "k", "TIMEOUT": "3"}, ["brockman.E054"]),
        # A timeout the lease cannot outlast (BROCKMAN_LEASE_SECONDS is 300).
        ({"API_KEY": "k", "TIMEOUT": 400}, ["brockman.E054"]),
        ({"API_KEY": "k", "BACKEND": "no.such.Backend"}, ["brockman.E055"]),
        ({"API_KEY": 42}, ["brockman.E056"]),
        ({"API_KEY": "k", "ENDPOINT": "https://eu.test/", "TIMEOUT": 2.5}, []),
    ],
)
def test_check_destination_settings(options: dict[str, object], expected: list[str]) -> None:
    with override_settings(BROCKMAN_DESTINATIONS={"default": {}, "eu": options}):
        assert ids() == expected


def test_check_destination_endpoint_uses_the_single_setting_rule() -> None:
    from django_brockman.conf import endpoint_problem

    setting = "BROCKMAN_DESTINATIONS['eu']['ENDPOINT']"
    with override_settings(BROCKMAN_DESTINATIONS={"default": {}, "eu": {"ENDPOINT": "x"}}):
        (message,) = check_settings()
    assert message.msg == endpoint_problem("x", setting)


@pytest.mark.parametrize(
    ("destinations", "expected"),
    [
        ({"default": {}, "eu": {}}, ["brockman.E057"]),
        ({"default": {}, "eu": {"API_KEY": ""}}, ["brockman.E057"]),
        ({"default": {"API_KEY": ""}}, ["brockman.E057"]),
        ({"default": {}, "eu": {"API_KEY": "k"}}, []),
        # Not delivered over HTTP: no key needed.
        ({"default": {}, "eu": {"BACKEND": "django_brockman.backends.locmem.LocmemBackend"}}, []),
    ],
)
def test_check_destination_keys_present_on_deploy(
    destinations: dict[str, Any], expected: list[str]
) -> None:
    with override_settings(BROCKMAN_DESTINATIONS=destinations):
        assert deploy_ids() == expected


@override_settings(BROCKMAN_DESTINATIONS={"default": {}, "eu": {}})
def test_check_destination_key_message_names_the_setting_never_a_key() -> None:
    from django_brockman.checks import check_deploy_settings

    (message,) = check_deploy_settings()
    assert "BROCKMAN_DESTINATIONS['eu']['API_KEY'] is not set" in message.msg
    assert "test-api-key-0123456789" not in str(message)
