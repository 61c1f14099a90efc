"""The example flow in a real browser: the actor cookie, flushing, and the health page."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from django.db import connection

from django_brockman.models import Status, Trigger
from django_brockman.receiver import Receiver
from django_brockman.testing import capture_triggers

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
# The documentation shows these screenshots (docs/howto/operating.rst): each run refreshes them.
SCREENSHOTS = ROOT / "docs" / "_static" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
API_KEY = "browser-test-key"
ACTOR_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEALTH = "admin/django_brockman/trigger/health/"


def missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        return (
            f"{CHROMIUM} and {CHROMEDRIVER} are needed: "
            "apt-get install -y chromium chromium-driver"
        )
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed: pip install -e '.[test]'"
    if importlib.util.find_spec("django_brockman.middleware") is None:
        return "django_brockman.middleware (the actor cookie middleware) is not available"
    return None


pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(missing() is not None, reason=str(missing())),
    pytest.mark.django_db(transaction=True),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.browser_settings",
        "PYTHONPATH": str(ROOT),
        "BROCKMAN_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        **extra,
    }


@pytest.fixture
def site() -> Iterator[str]:
    """runserver with the actor cookie middleware, on this test's database."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "django", "runserver", "--noreload", "--insecure", str(port)],
        cwd=ROOT,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url + "admin/login/")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_until_up(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"The test site did not start at {url}")


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    with tempfile.TemporaryDirectory() as profile:
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1000",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        driver.set_page_load_timeout(60)
        try:
            yield driver
        finally:
            driver.quit()


def flush(receiver_url: str) -> subprocess.CompletedProcess[str]:
    env = environment(BROCKMAN_API_KEY=API_KEY, BROCKMAN_ENDPOINT=receiver_url)
    return subprocess.run(
        [sys.executable, "-m", "django", "brockman_flush"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def screenshot(driver: Any, name: str) -> None:
    """Save the page as test-artifacts/<name>, and its content (the admin's ``#content``,
    without the empty window below it) as the documentation's screenshot."""
    from selenium.webdriver.common.by import By

    for folder in (ARTIFACTS, SCREENSHOTS):
        folder.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))
    driver.find_element(By.ID, "content").screenshot(str(SCREENSHOTS / name))


def log_in(driver: Any, site: str, then: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    User.objects.create_superuser("ops", password="browser-test-password")
    driver.get(f"{site}admin/login/?next=/{then}")
    driver.find_element(By.NAME, "username").send_keys("ops")
    driver.find_element(By.NAME, "password").send_keys("browser-test-password")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # A click does not wait for the page it submits to: wait for the one it leads to.
    WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/" + then))


def test_browser_first_visit_records_the_minted_actor_the_browser_keeps(
    site: str, browser: Any
) -> None:
    # A page that records nothing sets no cookie.
    browser.get(site + "pages/quiet/")
    assert browser.get_cookie("fl_actor_id") is None
    assert not Trigger.objects.exists()

    # The first page that records: the id is minted for the trigger and kept as the cookie.
    with capture_triggers() as first:
        browser.get(site + "pages/home/")
    cookie = browser.get_cookie("fl_actor_id")
    assert cookie is not None
    assert ACTOR_ID.match(cookie["value"])
    assert cookie["path"] == "/"
    assert cookie["httpOnly"] is False  # the browser script reads it
    assert cookie["sameSite"] == "Lax"
    # FocusLab's script reads the cookie the same way.
    assert browser.execute_script("return document.cookie") == f"fl_actor_id={cookie['value']}"
    assert [(t.obj, t.actor_id) for t in first] == [("home", cookie["value"])]

    # The next page view reuses it, and the browser keeps the same cookie.
    with capture_triggers() as second:
        browser.get(site + "pages/pricing/")
    assert [(t.obj, t.actor_id) for t in second] == [("pricing", cookie["value"])]
    assert browser.get_cookie("fl_actor_id")["value"] == cookie["value"]


def test_browser_visit_records_the_cookie_actor_and_health_shows_the_sends(
    site: str, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    with capture_triggers() as triggers:
        browser.get(site + "pages/home/")
        browser.get(site + "pages/pricing/")
    cookie = browser.get_cookie("fl_actor_id")

    assert cookie is not None
    assert ACTOR_ID.match(cookie["value"])
    assert [(t.obj, t.actor_id) for t in triggers] == [
        ("home", cookie["value"]),
        ("pricing", cookie["value"]),
    ]

    with Receiver(api_key=API_KEY) as receiver:
        flushed = flush(receiver.url)
        received = [item.body["actor_id"] for item in receiver.received]
    assert flushed.returncode == 0, flushed.stderr
    assert "2 sent" in flushed.stdout
    assert received == [cookie["value"]] * 2
    assert Trigger.objects.filter(status=Status.SENT).count() == 2

    log_in(browser, site, HEALTH)
    WebDriverWait(browser, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#brockman-sent-24h .figure")
    )
    sent = browser.find_element(By.CSS_SELECTOR, "#brockman-sent-24h .figure").text
    bars = browser.find_elements(By.CSS_SELECTOR, "#brockman-sent-chart rect.bar")
    screenshot(browser, "health-page.png")

    assert browser.title.startswith("Trigger health")
    assert sent == "2"
    assert len(bars) == 24
    assert sum(int(bar.get_attribute("data-count")) for bar in bars) == 2
    assert browser.find_element(By.CSS_SELECTOR, "#brockman-count-pending .figure").text == "0"

    browser.get(site + "admin/django_brockman/trigger/")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "result_list"))
    # Without the navigation sidebar, the list's columns fit the window.
    browser.find_element(By.ID, "toggle-nav-sidebar").click()
    screenshot(browser, "admin-list.png")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 2
