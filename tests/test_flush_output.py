"""What brockman_flush prints: a bar on a terminal, a summary in cron, outcomes at -v 2,
and never the API key."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import pty
import re
import subprocess
import sys
from collections import Counter

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from requests import PreparedRequest

from django_brockman import record_trigger
from django_brockman.management.commands.brockman_flush import Command
from django_brockman.models import Trigger
from django_brockman.receiver import Faults, Receiver
from tests.conftest import TRIGGER_URL
from tests.test_end_to_end import API_KEY, ROOT

pytestmark = pytest.mark.django_db

SECRET = "flush-output-secret-key-271828"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def record(count: int) -> None:
    for number in range(count):
        record_trigger(None, "viewed", f"page {number}", actor_id="actor-1")


def flush(*args: str, stdout: io.StringIO | None = None) -> tuple[str, str]:
    out, err = stdout or io.StringIO(), io.StringIO()
    call_command("brockman_flush", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_flush_in_cron_prints_only_the_summary(mocked_api: responses.RequestsMock) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    record(3)

    assert flush() == ("Flushed: 3 sent, 0 to retry, 0 failed.\n", "")


def test_flush_on_a_terminal_draws_a_progress_bar(mocked_api: responses.RequestsMock) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    record(3)

    out, _ = flush("--concurrency", "1", stdout=Terminal())

    bar, summary = out.rsplit("\n", 2)[:2]
    assert bar.startswith("\r[")
    assert "3/3" in bar.split("\r")[-1]
    assert "/s" in bar
    assert bar.endswith(" left")
    assert summary == "Flushed: 3 sent, 0 to retry, 0 failed."


@pytest.mark.parametrize(
    ("loop", "verbosity", "terminal", "drawn"),
    [
        (False, 1, True, True),
        (True, 1, True, False),
        (False, 1, False, False),
        (False, 2, True, False),
        (False, 0, True, False),
    ],
)
def test_flush_draws_a_bar_only_for_a_person_watching(
    loop: bool, verbosity: int, terminal: bool, drawn: bool
) -> None:
    command = Command(stdout=Terminal() if terminal else io.StringIO())
    options = {"loop": loop, "verbosity": verbosity, "database": None, "limit": None}

    assert (command.progress_bar(options) is not None) is drawn


def test_flush_bar_total_is_capped_by_limit() -> None:
    record(5)
    options = {"loop": False, "verbosity": 1, "database": None, "limit": 2}

    bar = Command(stdout=Terminal()).progress_bar(options)

    assert bar is not None
    assert bar.total == 2


def test_flush_verbosity_0_prints_nothing(mocked_api: responses.RequestsMock) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    record(1)

    assert flush("--verbosity", "0", stdout=Terminal()) == ("", "")


def test_flush_verbosity_2_logs_each_outcome(mocked_api: responses.RequestsMock) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    mocked_api.add(responses.POST, TRIGGER_URL, status=503)
    mocked_api.add(responses.POST, TRIGGER_URL, status=400)
    record(3)
    sent, retried, failed = Trigger.objects.order_by("pk")

    out, err = flush("--verbosity", "2", "--concurrency", "1", stdout=Terminal())

    # No bar at -v 2; the summary and its reasons.
    assert out.startswith("Flushed: 1 sent, 1 to retry, 1 failed.\n1 to retry: HTTP 503")
    lines = err.splitlines()
    assert any(line.endswith(f"Trigger {sent.uuid} sent") for line in lines)
    assert any(f"Trigger {retried.uuid} will be retried" in line for line in lines)
    assert any(
        f"WARNING django_brockman.engine: Trigger {failed.uuid} failed" in line for line in lines
    )


def echo_key(request: PreparedRequest) -> tuple[int, dict[str, str], str]:
    """A broken proxy's error page that shows the request's headers, key included."""
    headers = json.dumps(dict(request.headers))
    return 502, {"Retry-After": "0"}, f"Bad gateway. Your request: {headers}"


@override_settings(BROCKMAN_API_KEY=SECRET)
def test_flush_against_a_failing_api_never_shows_the_key(
    mocked_api: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, urllib3 and requests included
    mocked_api.add_callback(responses.POST, TRIGGER_URL, callback=echo_key)
    record(3)

    first_out, first_err = Terminal(), io.StringIO()
    with pytest.raises(CommandError) as undelivered:  # nothing delivered: exit status 5
        call_command(
            "brockman_flush", "-v", "3", "--concurrency", "2", stdout=first_out, stderr=first_err
        )
    Trigger.objects.update(next_attempt_at=timezone.now())  # due again at once
    mocked_api.replace(responses.POST, TRIGGER_URL, status=401, body=f"bad key {SECRET}")
    with pytest.raises(CommandError) as stopped:
        flush("--verbosity", "3")

    assert mocked_api.calls[0].request.headers["X-FL-API-KEY"] == SECRET  # it was sent
    assert "will be retried" in caplog.text
    assert "Bad gateway" in caplog.text
    everything = [
        first_out.getvalue(),
        first_err.getvalue(),
        str(undelivered.value),
        caplog.text,
        str(stopped.value),
        repr(stopped.value),
        *Trigger.objects.values_list("last_error", flat=True),
    ]
    assert not [text for text in everything if SECRET in text]


@pytest.mark.django_db(transaction=True)
def test_flush_subprocess_draws_a_bar_only_on_a_terminal() -> None:
    record(2)
    with Receiver(api_key=API_KEY) as receiver:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": str(ROOT),
            "BROCKMAN_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
            "BROCKMAN_API_KEY": API_KEY,
            "BROCKMAN_ENDPOINT": receiver.url,
        }
        command = [sys.executable, "-m", "django", "brockman_flush"]
        piped = subprocess.run(
            command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
        )
        record(2)
        controller, terminal = pty.openpty()
        with subprocess.Popen(command, env=env, cwd=ROOT, stdout=terminal) as shown:
            os.close(terminal)
            output = read_all(controller)
            shown.wait(timeout=120)

    assert piped.stdout == "Flushed: 2 sent, 0 to retry, 0 failed.\n", piped.stderr
    assert "\r[" in output
    assert "2/2" in output
    assert "Flushed: 2 sent, 0 to retry, 0 failed." in output.splitlines()[-1]


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode()


# Why a run could not deliver, at the default verbosity ------------------------------------


def flush_undelivered(*args: str, stdout: io.StringIO | None = None) -> tuple[str, CommandError]:
    """Run a flush that delivers nothing; return its output and the error it ends with."""
    out = stdout or io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("brockman_flush", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue(), raised.value


def shown_at(line: str) -> str:
    """The due time a reason line shows."""
    match = re.search(r", next attempt from (.+) UTC$", line)
    assert match, line
    return match[1]


def earliest_due(**filters: str) -> list[str]:
    """How the earliest next attempt of the pending triggers may be shown."""
    due = Trigger.objects.filter(status="pending", **filters).order_by("next_attempt_at")[0]
    when = due.next_attempt_at.astimezone(dt.timezone.utc)
    return [when.strftime("%H:%M:%S"), when.strftime("%Y-%m-%d %H:%M:%S")]


@override_settings(BROCKMAN_RETRY_BASE_SECONDS=3600, BROCKMAN_API_KEY=SECRET)
def test_flush_against_a_dead_endpoint_says_why_and_exits_5(dead_endpoint: str) -> None:
    record(3)

    with override_settings(BROCKMAN_ENDPOINT=dead_endpoint):
        out, error = flush_undelivered()

    first, reason = out.splitlines()
    assert first == "Flushed: 0 sent, 3 to retry, 0 failed."
    assert reason.startswith(f"3 to retry: connection refused ({dead_endpoint}trigger/), ")
    assert shown_at(reason) in earliest_due()
    assert error.returncode == 5
    assert str(error).startswith("Nothing was delivered: FocusLab could not be reached")
    assert f"connection refused ({dead_endpoint}trigger/)" in str(error)
    assert SECRET not in out + str(error)


@pytest.mark.django_db(transaction=True)
@override_settings(BROCKMAN_RETRY_BASE_SECONDS=3600, BROCKMAN_API_KEY=API_KEY)
def test_flush_against_a_receiver_answering_errors_groups_them_by_status() -> None:
    record(6)

    with Receiver(api_key=API_KEY, faults=Faults(error_rate=1.0, seed=0)) as receiver:
        with override_settings(BROCKMAN_ENDPOINT=receiver.url):
            out, error = flush_undelivered()
        statuses = Counter(fault.status for fault in receiver.faulted)

    first, *reasons = out.splitlines()
    assert first == "Flushed: 0 sent, 6 to retry, 0 failed."
    shown = {}
    for line in reasons:
        match = re.match(r"(\d+) to retry: HTTP (\d+) \((.+?)\), next attempt from ", line)
        assert match, line
        assert match[3] == receiver.trigger_url
        shown[int(match[2])] = int(match[1])
        assert shown_at(line) in earliest_due(last_error__startswith=f"HTTP {match[2]}")
    assert shown == statuses
    # The larger group first.
    assert list(shown.values()) == sorted(shown.values(), reverse=True)
    assert error.returncode == 5


@pytest.mark.django_db(transaction=True)
@override_settings(
    BROCKMAN_RETRY_BASE_SECONDS=0.000001,  # due again at once: each comes back in the run
    BROCKMAN_MAX_ATTEMPTS=3,
    BROCKMAN_API_KEY=API_KEY,
)
def test_flush_counts_a_backlog_that_comes_back_once_per_trigger() -> None:
    record(40)

    with Receiver(api_key=API_KEY, faults=Faults(error_rate=1.0, seed=5)) as receiver:
        with override_settings(BROCKMAN_ENDPOINT=receiver.url):
            out, error = flush_undelivered("--concurrency", "4", "--batch-size", "10")
        requests_made = len(receiver.faulted)

    first, *reasons = out.splitlines()
    assert requests_made == 120
    assert first == "Flushed: 0 sent, 0 to retry, 40 failed."
    counts = [
        re.fullmatch(r"(\d+) failed after their last attempt: HTTP 50[03] \(.+\)", line)
        for line in reasons
    ]
    assert all(counts), reasons
    assert sum(int(match[1]) for match in counts if match) == 40
    assert error.returncode == 5


def test_flush_that_delivered_some_lists_the_reasons_and_exits_0(
    mocked_api: responses.RequestsMock,
) -> None:
    for status in (201, 503, 400, 400):
        mocked_api.add(responses.POST, TRIGGER_URL, status=status)
    record(4)

    with override_settings(BROCKMAN_RETRY_BASE_SECONDS=3600):
        out, _ = flush("--concurrency", "1")

    first, retry, failed = out.splitlines()
    assert first == "Flushed: 1 sent, 1 to retry, 2 failed."
    assert retry.startswith(f"1 to retry: HTTP 503 ({TRIGGER_URL}), next attempt from ")
    assert failed == f"2 failed: HTTP 400 ({TRIGGER_URL})"


def test_flush_of_bad_triggers_only_exits_0(mocked_api: responses.RequestsMock) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=400)
    record(2)

    out, _ = flush()

    assert out == f"Flushed: 0 sent, 0 to retry, 2 failed.\n2 failed: HTTP 400 ({TRIGGER_URL})\n"


@override_settings(BROCKMAN_RETRY_BASE_SECONDS=3600)
def test_flush_verbosity_0_prints_only_the_error(dead_endpoint: str) -> None:
    record(1)

    with override_settings(BROCKMAN_ENDPOINT=dead_endpoint):
        out, error = flush_undelivered("--verbosity", "0")

    assert out == ""
    assert error.returncode == 5


@override_settings(BROCKMAN_RETRY_BASE_SECONDS=3600)
def test_flush_bar_shows_sent_to_retry_and_failed_as_it_goes(
    mocked_api: responses.RequestsMock,
) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=503)
    record(3)

    out, _ = flush_undelivered("--concurrency", "1", stdout=Terminal())

    bar = out.split("\n")[0].split("\r")[-1]
    assert "3/3" in bar
    assert "0 sent, 3 to retry, 0 failed" in bar
    assert "#" not in bar  # nothing in it looks like a success
