"""The health page in a real browser during an outage and after recovery, with screenshots
saved under test-artifacts/ for a person to look at."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from django_brockman import counters
from django_brockman.models import Status, Trigger
from django_brockman.receiver import Receiver
from tests import test_browser
from tests.test_browser import (
    API_KEY,
    ARTIFACTS,
    HEALTH,
    ROOT,
    environment,
    free_port,
    log_in,
    missing,
)

# The browser test module's fixtures: a headless Chromium, and runserver on this database.
browser = test_browser.browser
site = test_browser.site

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(missing() is not None, reason=str(missing())),
    pytest.mark.django_db(transaction=True),
]

BACKLOG = 200


def flush(endpoint: str) -> subprocess.CompletedProcess[str]:
    # Backoff of minutes, as in production: one run attempts each trigger once.
    env = environment(
        BROCKMAN_API_KEY=API_KEY,
        BROCKMAN_ENDPOINT=endpoint,
        BROCKMAN_TIMEOUT="2",
        BROCKMAN_RETRY_BASE_SECONDS="300",
    )
    return subprocess.run(
        [sys.executable, "-m", "django", "brockman_flush"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def a_day_of_traffic(now: dt.datetime) -> None:
    """The past day as the flusher would have counted it: about 120 sends an hour, and a
    burst of thirty times that three hours ago; the last send was 20 minutes ago."""
    with transaction.atomic():
        for back in range(1, 24):
            sent = 3600 if back == 3 else 110 + (back * 7) % 30
            counters.add("default", now - dt.timedelta(hours=back), sent=sent)
    last = now - dt.timedelta(minutes=20)
    Trigger.objects.create(
        actor_id="a", action="viewed", obj="earlier", status=Status.SENT, attempts=1,
        created_at=last, updated_at=last, sent_at=last,
    )  # fmt: skip


def text(driver: Any, selector: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, selector).text)


def show_health(driver: Any, site: str, name: str) -> None:
    driver.get(site + HEALTH)
    ARTIFACTS.mkdir(exist_ok=True)
    driver.set_window_size(1280, 1400)
    driver.save_screenshot(str(ARTIFACTS / name))


def test_health_page_shows_an_outage_then_the_recovery(site: str, browser: Any) -> None:
    a_day_of_traffic(timezone.now())
    Trigger.objects.bulk_create(
        Trigger(actor_id=f"a{n}", action="viewed", obj=f"page {n}") for n in range(BACKLOG)
    )
    down = f"http://127.0.0.1:{free_port()}/api/v1/"  # nothing listens there

    outage = flush(down)
    # Nothing could be delivered: the documented status of its own.
    assert outage.returncode == 5, outage.stderr
    log_in(browser, site, HEALTH)
    show_health(browser, site, "health-outage.png")

    assert text(browser, "#brockman-state strong") == "FAILING"
    assert "nothing delivered since the latest error" in text(browser, "#brockman-state")
    assert text(browser, "#brockman-waiting-retry .figure") == str(BACKLOG)
    # Each was attempted once, or twice when its jittered backoff came out near zero.
    attempts = sum(Trigger.objects.values_list("attempts", flat=True)) - 1
    assert text(browser, "#brockman-retried-24h .figure") == str(attempts)
    error = text(browser, "#brockman-latest-error")
    assert "127.0.0.1" in error
    assert text(browser, "#brockman-last-sent .figure") == "20 minutes ago"

    # Time passes: the retries' backoff runs out.
    Trigger.objects.filter(status=Status.PENDING).update(next_attempt_at=timezone.now())
    with Receiver(api_key=API_KEY) as receiver:
        recovery = flush(receiver.url)
        delivered = len(receiver.received)
    assert recovery.returncode == 0, recovery.stderr
    assert delivered == BACKLOG
    show_health(browser, site, "health-recovered.png")
    from selenium.webdriver.common.by import By

    assert text(browser, "#brockman-state strong") == "HEALTHY"
    assert text(browser, "#brockman-waiting-retry .figure") == "0"
    assert text(browser, "#brockman-count-pending .figure") == "0"
    latest = browser.find_element(By.CSS_SELECTOR, "#brockman-latest-error")
    assert "127.0.0.1" in latest.text  # still shown, for the record
    assert "triggers delivered since" in latest.text
    assert "warn" not in latest.get_attribute("class")
    assert text(browser, "#brockman-last-sent .figure") == "0 minutes ago"
