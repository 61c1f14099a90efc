"""The stand-in FocusLab receiver: the contract it enforces, its faults, its pages and CLI."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from django_brockman.receiver import Faults, Receiver, is_json_type, receiver_from_args
from django_brockman.receiver import main as receiver_main

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "receiver-test-key"
HEADERS = {"X-FL-API-KEY": API_KEY, "Content-Type": "application/json"}
TRIGGER = {"actor_id": "actor-1", "action": "viewed", "object": "home page"}
BROWSER_BODY = {
    "actor_id": "0b9e7c2a-5d41-4c3e-9f0a-1b2c3d4e5f60",
    "action": "viewed",
    "object": "home page",
    "captured_identities": {},
    "captured_attributes": {},
    "variables": {"user_agent": "Mozilla/5.0 (X11; Linux x86_64)"},
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as client:
        # 127.0.0.1 must not be sent through a proxy set in the environment.
        client.trust_env = False
        yield client


def post(
    session: requests.Session,
    receiver: Receiver,
    body: Any = TRIGGER,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return session.post(
        receiver.trigger_url, data=data, headers=headers or HEADERS, timeout=timeout
    )


def base_url(receiver: Receiver) -> str:
    return f"http://127.0.0.1:{receiver.port}"


def test_trigger_accepted_is_recorded_byte_exact(
    receiver: Receiver, session: requests.Session
) -> None:
    raw = '{"object":"café" , "action": "viewed","actor_id":"a-1"}'.encode()
    headers = {**HEADERS, "Idempotency-Key": "key-1", "User-Agent": "test-agent/1"}

    response = post(session, receiver, raw, headers)

    assert (response.status_code, response.text) == (201, "{}")
    assert response.headers["Content-Type"] == "application/json"
    [item] = receiver.received
    assert item.raw == raw
    assert item.body == {"object": "café", "action": "viewed", "actor_id": "a-1"}
    assert item.idempotency_key == "key-1"
    assert (item.headers["user-agent"], item.headers["x-fl-api-key"]) == ("test-agent/1", API_KEY)
    assert (receiver.count, receiver.idempotency_keys()) == (1, ["key-1"])


def test_trigger_with_all_dicts_is_accepted(receiver: Receiver, session: requests.Session) -> None:
    body = {
        **TRIGGER,
        "captured_identities": {"email": "ada@example.com"},
        "captured_attributes": {"plan": None, "beta": True},
        "variables": {"total": 9.5, "count": 2, "skus": ["a", 1, 2.5, None]},
    }

    response = post(session, receiver, body)

    assert response.status_code == 201
    assert receiver.received[0].body == body


def test_body_of_focuslabs_browser_script_is_accepted(
    receiver: Receiver, session: requests.Session
) -> None:
    # FocusLab's own script always sent the two dicts, empty, and a user_agent variable.
    response = post(session, receiver, BROWSER_BODY)

    assert response.status_code == 201, response.text
    assert receiver.received[0].body == BROWSER_BODY


@pytest.mark.parametrize("key", ["captured_identities", "captured_attributes", "variables"])
def test_strict_receiver_refuses_an_empty_dict(session: requests.Session, key: str) -> None:
    with Receiver(api_key=API_KEY, strict=True) as receiver:
        refused = post(session, receiver, {**TRIGGER, key: {}})
        accepted = post(session, receiver, {**TRIGGER, key: {"user_agent": "x"}})

    assert (refused.status_code, refused.text) == (
        400,
        f"{key} must be left out when empty (strict mode)\n",
    )
    assert accepted.status_code == 201
    assert [item.reason for item in receiver.rejected] == [refused.text.strip()]


def test_trigger_with_utf8_charset_is_accepted(
    receiver: Receiver, session: requests.Session
) -> None:
    headers = {**HEADERS, "Content-Type": "application/json; charset=UTF-8"}

    assert post(session, receiver, headers=headers).status_code == 201


@pytest.mark.parametrize(
    "headers",
    [
        {"X-FL-API-KEY": "wrong-key", "Content-Type": "application/json"},
        {"Content-Type": "application/json"},
    ],
    ids=["wrong", "missing"],
)
def test_trigger_with_bad_key_is_401(
    receiver: Receiver, session: requests.Session, headers: dict[str, str]
) -> None:
    response = post(session, receiver, headers=headers)

    assert response.status_code == 401
    assert "wrong-key" not in response.text
    assert receiver.count == 0
    assert [item.status for item in receiver.rejected] == [401]


def test_receiver_without_api_key_accepts_any_key_but_not_none(session: requests.Session) -> None:
    with Receiver() as receiver:
        accepted = post(session, receiver, headers={**HEADERS, "X-FL-API-KEY": "anything"})
        refused = post(session, receiver, headers={"Content-Type": "application/json"})

    assert (accepted.status_code, refused.status_code) == (201, 401)


def test_other_path_is_404(receiver: Receiver, session: requests.Session) -> None:
    response = session.post(receiver.url + "triggers/", json=TRIGGER, headers=HEADERS)

    assert response.status_code == 404
    assert receiver.rejected[0].path == "/api/v1/triggers/"


def test_trigger_path_with_get_is_405(receiver: Receiver, session: requests.Session) -> None:
    response = session.get(receiver.trigger_url, headers=HEADERS)

    assert (response.status_code, response.headers["Allow"]) == (405, "POST")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({**TRIGGER, "timestamp": 1}, "unknown keys: timestamp"),
        ({**TRIGGER, "captured_identities": None}, "captured_identities must be an object"),
        ({**TRIGGER, "action": 7}, "action must be a non-empty string"),
        ({**TRIGGER, "actor_id": ""}, "actor_id must be a non-empty string"),
        ({"actor_id": "a", "action": "b"}, "missing keys: object"),
        ({**TRIGGER, "variables": {"nested": {"a": 1}}}, "value of 'nested'"),
        ({**TRIGGER, "variables": {"nested": [[1]]}}, "value of 'nested'"),
        ([TRIGGER], "the body must be a JSON object"),
        (b'{"actor_id": "a", "action": "b", "object": ', "not UTF-8 JSON"),
        (b'{"actor_id": "a", "action": "b", "object": "c", "variables": {"x": NaN}}', "NaN"),
        (b'{"actor_id": "a", "action": "b", "action": "c", "object": "d"}', "duplicate"),
        (b'{"actor_id": "a", "action": "\xff", "object": "d"}', "not UTF-8 JSON"),
    ],
)
def test_trigger_breaking_contract_is_400(
    receiver: Receiver, session: requests.Session, body: Any, reason: str
) -> None:
    response = post(session, receiver, body)

    assert response.status_code == 400
    assert reason in response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    assert receiver.count == 0
    assert [item.status for item in receiver.rejected] == [400]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_trigger_with_wrong_content_type_is_400(
    receiver: Receiver, session: requests.Session, content_type: str
) -> None:
    response = post(session, receiver, headers={**HEADERS, "Content-Type": content_type})

    assert response.status_code == 400
    assert "Content-Type" in response.text


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", True),
        ('Application/JSON ; charset="utf-8"', True),
        ("application/json; boundary=x", True),
        ("application/json; charset=utf-16", False),
        ("application/jsonx", False),
        ("", False),
    ],
)
def test_is_json_type_by_content_type(content_type: str, expected: bool) -> None:
    assert is_json_type(content_type) is expected


def test_error_fault_answers_5xx_and_records_nothing(
    receiver: Receiver, session: requests.Session
) -> None:
    receiver.faults = Faults(error_rate=1.0, seed=1)

    statuses = {post(session, receiver).status_code for _ in range(20)}

    assert statuses == {500, 503}
    assert receiver.count == 0
    assert [fault.kind for fault in receiver.faulted] == ["error"] * 20


def test_rate_limit_fault_answers_429_with_retry_after(
    receiver: Receiver, session: requests.Session
) -> None:
    receiver.faults = Faults(rate_limit_rate=1.0, retry_after=7)

    response = post(session, receiver)

    assert (response.status_code, response.headers["Retry-After"]) == (429, "7")
    assert receiver.count == 0


def test_slow_fault_times_the_client_out_and_records_nothing(session: requests.Session) -> None:
    receiver = Receiver(api_key=API_KEY, faults=Faults(slow_rate=1.0, slow_seconds=30))
    with receiver:
        with pytest.raises(requests.Timeout):
            post(session, receiver, timeout=0.2)
        started = time.monotonic()

    # stop() cuts the 30-second sleep short instead of waiting for it.
    assert time.monotonic() - started < 5
    assert receiver.count == 0
    assert [fault.kind for fault in receiver.faulted] == ["slow"]


def test_slow_fault_answers_504_to_a_patient_client(
    receiver: Receiver, session: requests.Session
) -> None:
    receiver.faults = Faults(slow_rate=1.0, slow_seconds=0.1)

    assert post(session, receiver).status_code == 504
    assert receiver.count == 0


def test_drop_fault_closes_without_answer_and_records_nothing(
    receiver: Receiver, session: requests.Session
) -> None:
    receiver.faults = Faults(drop_rate=1.0)

    with pytest.raises(requests.ConnectionError):
        post(session, receiver)
    assert receiver.count == 0
    assert receiver.faulted[0].status is None


def test_fault_rates_with_same_seed_repeat_the_same_sequence(session: requests.Session) -> None:
    faults = Faults(error_rate=0.3, rate_limit_rate=0.2, seed=42)
    runs = []
    for _ in range(2):
        with Receiver(api_key=API_KEY, faults=faults) as receiver:
            runs.append([post(session, receiver).status_code for _ in range(100)])

    assert runs[0] == runs[1]
    assert 15 < sum(status in (500, 503) for status in runs[0]) < 45
    assert 5 < runs[0].count(429) < 35


def test_faults_changed_at_runtime_take_effect(
    receiver: Receiver, session: requests.Session
) -> None:
    receiver.faults = Faults(error_rate=1.0)
    failing = post(session, receiver).status_code
    receiver.faults = Faults()

    assert failing in (500, 503)
    assert post(session, receiver).status_code == 201


def test_latency_delays_every_api_answer(session: requests.Session) -> None:
    with Receiver(api_key=API_KEY, faults=Faults(latency=0.1)) as receiver:
        started = time.monotonic()
        post(session, receiver)
        session.get(receiver.url + "nowhere/")
        elapsed = time.monotonic() - started

    assert elapsed >= 0.2


@pytest.mark.parametrize(
    "faults",
    [{"error_rate": 1.5}, {"drop_rate": -0.1}, {"error_rate": 0.6, "drop_rate": 0.6}],
)
def test_faults_with_impossible_rates_raise(faults: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="rates"):
        Faults(**faults)


def test_received_json_lists_bodies_with_keys(
    receiver: Receiver, session: requests.Session
) -> None:
    post(session, receiver, headers={**HEADERS, "Idempotency-Key": "k-1"})
    post(session, receiver, {**TRIGGER, "action": "left"})

    listing = session.get(base_url(receiver) + "/_received/").json()

    assert listing == [
        {"idempotency_key": "k-1", "body": TRIGGER},
        {"idempotency_key": None, "body": {**TRIGGER, "action": "left"}},
    ]


def test_received_delete_clears(receiver: Receiver, session: requests.Session) -> None:
    post(session, receiver)

    response = session.delete(base_url(receiver) + "/_received/")

    assert response.status_code == 204
    assert (receiver.count, session.get(base_url(receiver) + "/_received/").json()) == (0, [])


def test_page_shows_endpoint_counts_and_escapes_triggers(
    receiver: Receiver, session: requests.Session
) -> None:
    post(session, receiver, {**TRIGGER, "object": "<script>alert(1)</script>"})

    page = session.get(base_url(receiver) + "/").text

    assert f'BROCKMAN_ENDPOINT = "{receiver.url}"' in page
    assert "1 triggers received, 0 rejected, 0 faulted" in page
    assert "&lt;script&gt;" in page
    assert "<script>" not in page


def test_page_shows_why_requests_were_rejected_and_the_faults(session: requests.Session) -> None:
    with Receiver(api_key=API_KEY, faults=Faults(error_rate=1.0)) as receiver:
        post(session, receiver, {**TRIGGER, "timestamp": 1})
        post(session, receiver)
        page = session.get(base_url(receiver) + "/").text

    assert "0 triggers received, 1 rejected, 1 faulted" in page
    assert "400 POST <code>/api/v1/trigger/</code>: unknown keys: timestamp" in page
    assert "error_rate=1.0" in page


def test_keep_alive_connection_survives_rejections(receiver: Receiver) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
    statuses, sockets = [], []
    for path in ("/api/v1/nowhere/", "/api/v1/trigger/", "/api/v1/trigger/"):
        connection.request("POST", path, json.dumps(TRIGGER).encode(), HEADERS)
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
        sockets.append(connection.sock)
    connection.close()

    assert statuses == [404, 201, 201]
    # http.client reopens a connection the server closed; one socket means it never did.
    assert len({id(sock) for sock in sockets}) == 1


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /api/v1/trigger/ HTTP/1.1\r\nContent-Length: many\r\n\r\n", b"411"),
        (b"POST /api/v1/trigger/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"411"),
        (b"POST /api/v1/trigger/ HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", b"413"),
    ],
)
def test_malformed_http_is_answered_and_closed(
    receiver: Receiver, request_bytes: bytes, status: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
        sock.sendall(request_bytes)
        answer = b"".join(iter(lambda: sock.recv(4096), b""))

    assert answer.split(b" ")[1] == status
    assert receiver.count == 0


def test_concurrent_clients_are_all_recorded(receiver: Receiver) -> None:
    def send(worker: int) -> None:
        with requests.Session() as client:
            client.trust_env = False
            for number in range(50):
                headers = {**HEADERS, "Idempotency-Key": f"{worker}-{number}"}
                assert post(client, receiver, headers=headers).status_code == 201

    threads = [threading.Thread(target=send, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert receiver.count == 200
    assert len(set(receiver.idempotency_keys())) == 200


def test_a_flushers_32_connections_at_once_are_all_answered() -> None:
    # A flusher with BROCKMAN_CONCURRENCY = 32 opens its connections together; a listen
    # backlog of 5 (socketserver's default) made the kernel refuse a third of them.
    receiver = Receiver(api_key=API_KEY, faults=Faults(latency=0.05))
    start = threading.Barrier(32)
    statuses: list[int | str] = []

    def send() -> None:
        with requests.Session() as client:
            client.trust_env = False
            start.wait()
            try:
                statuses.append(post(client, receiver).status_code)
            except requests.ConnectionError as exc:
                statuses.append(type(exc).__name__)

    with receiver:
        threads = [threading.Thread(target=send) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert statuses == [201] * 32


def test_wait_for_returns_once_triggers_arrived(
    receiver: Receiver, session: requests.Session
) -> None:
    assert receiver.wait_for(1, timeout=0.05) is False
    threading.Timer(0.05, post, args=(session, receiver)).start()

    assert receiver.wait_for(1, timeout=5) is True


def test_restart_keeps_port_and_records(receiver: Receiver, session: requests.Session) -> None:
    post(session, receiver)
    port = receiver.port
    receiver.stop()
    with pytest.raises(requests.ConnectionError):
        post(session, receiver)
    receiver.start()

    assert post(session, receiver).status_code == 201
    assert (receiver.port, receiver.count) == (port, 2)


def test_repr_hides_the_api_key(receiver: Receiver) -> None:
    assert API_KEY not in repr(receiver)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signal_and_never_prints_key(
    session: requests.Session, signum: int
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "django_brockman.receiver", "--port", "0", "--api-key", API_KEY],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        url = ready.rpartition(" ")[2].strip()
        response = session.post(url + "trigger/", json=TRIGGER, headers=HEADERS, timeout=5)
        listing = session.get(url.replace("/api/v1/", "/_received/"), timeout=5).json()
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
        process.wait()

    assert ready.startswith("FocusLab stand-in listening on http://127.0.0.1:")
    assert url.endswith("/api/v1/")
    assert response.status_code == 201
    assert listing == [{"idempotency_key": None, "body": TRIGGER}]
    assert process.returncode == 0, stderr
    assert "'viewed' 'home page' actor='actor-1'" in stdout
    assert API_KEY not in ready + stdout + stderr


def raw_exchange(receiver: Receiver, *parts: bytes) -> bytes:
    """Send *parts* on one connection, then read until the receiver closes it."""
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
        for part in parts:
            sock.sendall(part)
        return b"".join(iter(lambda: sock.recv(4096), b""))


def test_faults_with_negative_durations_raise() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        Faults(latency=-0.1)


def test_http_1_0_connection_is_closed_after_the_answer(receiver: Receiver) -> None:
    answer = raw_exchange(receiver, b"GET /_received/ HTTP/1.0\r\n\r\n")

    assert answer.split(b" ")[1] == b"200"
    assert answer.endswith(b"[]")


def test_expect_100_continue_is_answered_before_the_body(receiver: Receiver) -> None:
    body = json.dumps(TRIGGER).encode()
    head = (
        b"POST /api/v1/trigger/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nX-FL-API-KEY: " + API_KEY.encode() + b"\r\n"
        b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
        sock.sendall(head)
        interim = sock.recv(4096)
        sock.sendall(body)
        answer = b"".join(iter(lambda: sock.recv(4096), b""))

    assert interim.startswith(b"HTTP/1.1 100 ")
    assert answer.split(b" ")[1] == b"201"
    assert receiver.count == 1


def test_client_hanging_up_mid_body_records_nothing(receiver: Receiver) -> None:
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
        sock.sendall(
            b"POST /api/v1/trigger/ HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + b'{"actor_id"'
        )
        sock.shutdown(socket.SHUT_WR)
        answer = b"".join(iter(lambda: sock.recv(4096), b""))

    assert answer == b""
    assert (receiver.count, receiver.rejected) == (0, [])


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("POST", "/_received/", "GET, DELETE"), ("PUT", "/", "GET")],
)
def test_inspection_pages_with_other_methods_are_405(
    receiver: Receiver, session: requests.Session, method: str, path: str, allow: str
) -> None:
    response = session.request(method, base_url(receiver) + path, timeout=5)

    assert (response.status_code, response.headers["Allow"]) == (405, allow)


def test_start_and_stop_twice_are_harmless(receiver: Receiver, session: requests.Session) -> None:
    port = receiver.port
    receiver.start()

    assert (receiver.port, post(session, receiver).status_code) == (port, 201)
    receiver.stop()
    receiver.stop()


def test_port_before_start_raises() -> None:
    with pytest.raises(RuntimeError, match="no port until it is started"):
        _ = Receiver().port


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--latency", "-1"], "must not be negative"),
        (["--error-rate", "0.7", "--drop-rate", "0.7"], "add up to at most 1"),
    ],
)
def test_cli_with_impossible_faults_exits_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        receiver_main(argv)

    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_options_set_the_faults_and_strict_mode() -> None:
    argv = "--port 0 --quiet --strict --latency 0.5 --error-rate 0.1 --rate-limit-rate 0.2"
    argv += " --retry-after 3 --slow-rate 0.3 --slow-seconds 2 --drop-rate 0.4 --seed 9"

    receiver = receiver_from_args(argv.split())

    assert receiver.strict is True
    assert receiver.on_receive is None
    assert receiver.faults == Faults(
        latency=0.5,
        error_rate=0.1,
        rate_limit_rate=0.2,
        retry_after=3,
        slow_rate=0.3,
        slow_seconds=2.0,
        drop_rate=0.4,
        seed=9,
    )


def test_cli_defaults_accept_as_the_api_without_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROCKMAN_API_KEY", raising=False)

    receiver = receiver_from_args([])

    assert (receiver.api_key, receiver.strict, receiver.faults) == (None, False, Faults())
    assert receiver._port == 8765


def test_cli_on_a_busy_port_exits_1(
    receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    status = receiver_main(["--port", str(receiver.port), "--quiet"])

    assert status == 1
    assert f"Cannot listen on 127.0.0.1:{receiver.port}" in capsys.readouterr().err
