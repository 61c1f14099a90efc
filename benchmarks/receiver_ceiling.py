"""How many triggers a second the stand-in receiver answers on 127.0.0.1.

Usage: python benchmarks/receiver_ceiling.py [--seconds 3] [--where both|thread|process]

"thread" runs the Receiver in this process, as the test suite does, so client and server
share one GIL; "process" runs ``python -m django_brockman.receiver`` beside it, so each
side has a core of its own. Each client keeps one connection alive per thread.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from django_brockman.receiver import Receiver  # noqa: E402

API_KEY = "benchmark-key"
HEADERS = {"X-FL-API-KEY": API_KEY, "Content-Type": "application/json"}
BODY = json.dumps({"actor_id": "actor-1", "action": "viewed", "object": "home page"}).encode()

Send = Callable[[], int]


def requests_client(trigger_url: str) -> Send:
    session = requests.Session()
    # No proxy for 127.0.0.1; without this, every request re-reads the environment
    # for proxy settings, which costs more than the receiver's whole answer.
    session.trust_env = False
    return lambda: session.post(trigger_url, data=BODY, headers=HEADERS).status_code


def http_client(trigger_url: str) -> Send:
    """The cheapest Python client there is, to show the receiver's own ceiling."""
    parts = urlsplit(trigger_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port)

    def send() -> int:
        connection.request("POST", parts.path, BODY, HEADERS)
        response = connection.getresponse()
        response.read()
        return response.status

    return send


def hammer(
    make_client: Callable[[str], Send], trigger_url: str, threads: int, seconds: float
) -> float:
    """Send triggers from *threads* threads for *seconds*; return the requests a second."""
    counts = [0] * threads
    deadline = time.monotonic() + seconds

    def run(index: int) -> None:
        send = make_client(trigger_url)
        while time.monotonic() < deadline:
            status = send()
            if status != 201:
                raise RuntimeError(f"The receiver answered {status}.")
            counts[index] += 1

    workers = [threading.Thread(target=run, args=(index,)) for index in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.monotonic() - started)


def socket_client(trigger_url: str) -> Send:
    """Prebuilt bytes on a raw socket: almost no client cost, so the receiver's ceiling."""
    parts = urlsplit(trigger_url)
    head = "".join(f"{name}: {value}\r\n" for name, value in HEADERS.items())
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    sock = socket.create_connection((parts.hostname or "", parts.port or 80))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send() -> int:
        sock.sendall(request)
        answer = b""
        while not answer.endswith(b"\r\n\r\n{}"):
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("The receiver closed the connection.")
            answer += chunk
        return int(answer.split(b" ", 2)[1])

    return send


@contextmanager
def in_thread() -> Iterator[str]:
    with Receiver(api_key=API_KEY) as receiver:
        yield receiver.trigger_url


@contextmanager
def in_process() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "django_brockman.receiver", "--port", "0", "--quiet"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "BROCKMAN_API_KEY": API_KEY},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().rpartition(" ")[2].strip() + "trigger/"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--where", choices=["both", "thread", "process"], default="both")
    args = parser.parse_args()
    places = {"thread": in_thread, "process": in_process}
    clients = [
        ("requests.Session, 1 thread", requests_client, 1),
        ("requests.Session, 4 threads", requests_client, 4),
        ("http.client, 1 thread", http_client, 1),
        ("raw socket, 1 thread", socket_client, 1),
        ("raw socket, 4 threads", socket_client, 4),
    ]
    for where, start in places.items():
        if args.where not in ("both", where):
            continue
        with start() as trigger_url:
            for label, make_client, threads in clients:
                rate = hammer(make_client, trigger_url, threads, args.seconds)
                print(f"receiver in a {where:<7}  {label:<28} {rate:8.0f} requests/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
