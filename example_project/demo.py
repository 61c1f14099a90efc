"""Run the example end to end: migrate, serve the site, browse it, flush, show what arrived.

Usage: python example_project/demo.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from django_brockman.receiver import Receiver

HERE = Path(__file__).resolve().parent
API_KEY = "example-api-key"
# Three page views (one recorded by a view, two by a template tag) and one subscription
# (recorded by a signal hook).
EXPECTED_TRIGGERS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def manage(env: dict[str, str], *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, str(HERE / "manage.py"), *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return completed.stdout


def wait_until_up(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise SystemExit(f"The example site did not start at {url}")


def browse(site: str) -> str:
    """Visit the site as one browser would; return the actor id the site gave it."""
    with requests.Session() as browser:
        for page in ["", "articles/hello/", "articles/cron/"]:
            response = browser.get(site + page, timeout=10)
            print(f"2. GET /{page} -> {response.status_code}")
        response = browser.post(
            site + "articles/cron/subscribe/",
            data={
                "email": "reader@example.com",
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
            timeout=10,
            allow_redirects=False,
        )
        print(f"2. POST /articles/cron/subscribe/ -> {response.status_code}")
        actor_id: str = browser.cookies["fl_actor_id"]
        print(f"   The site set the cookie fl_actor_id={actor_id} on the first page view.")
        return actor_id


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, Receiver(api_key=API_KEY) as receiver:
        env = {
            **os.environ,
            "EXAMPLE_DATABASE": str(Path(tmp) / "example.sqlite3"),
            "BROCKMAN_API_KEY": API_KEY,
            "BROCKMAN_ENDPOINT": receiver.url,
            "PYTHONUNBUFFERED": "1",
        }
        print("1. migrate:", manage(env, "migrate", "--noinput").count("OK"), "migrations applied")
        port = free_port()
        site = f"http://127.0.0.1:{port}/"
        server = subprocess.Popen(
            [sys.executable, str(HERE / "manage.py"), "runserver", "--noreload", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_up(site + "admin/login/")
            actor_id = browse(site)
        finally:
            server.terminate()
            server.wait(timeout=10)
        print("3. brockman_flush:", manage(env, "brockman_flush").strip())
        print(f"4. The FocusLab stand-in at {receiver.url} received {receiver.count} triggers:")
        for item in receiver.received:
            print("   ", item.idempotency_key, json.dumps(item.body, sort_keys=True))
        actors = {item.body["actor_id"] for item in receiver.received}
        return 0 if receiver.count == EXPECTED_TRIGGERS and actors == {actor_id} else 1


if __name__ == "__main__":
    sys.exit(main())
