"""A local stand-in for the FocusLab trigger API that shows what it got, with faults on demand."""

from __future__ import annotations

import argparse
import contextlib
import hmac
import html
import json
import os
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any

API_PATH = "/api/v1/"
TRIGGER_PATH = API_PATH + "trigger/"
RECEIVED_PATH = "/_received/"
PAGE_PATH = "/"
DEFAULT_PORT = 8765

REQUIRED_KEYS = ("actor_id", "action", "object")
OPTIONAL_KEYS = ("captured_identities", "captured_attributes", "variables")
MAX_BODY_BYTES = 1024 * 1024
PAGE_LIMIT = 50
STOP_GRACE_SECONDS = 5.0
# What each kind of fault answers; 504 is what a gateway says when its backend is slow.
FAULT_STATUSES: dict[str, tuple[int, ...]] = {
    "drop": (),
    "error": (500, 503),
    "rate_limit": (429,),
    "slow": (504,),
}


class ContractViolation(ValueError):
    """A request the FocusLab API would answer with 400; the message is the reason."""


@dataclass(frozen=True)
class Faults:
    """What the receiver does wrong, on purpose.

    ``latency`` delays every API answer. The rates are shares of valid trigger requests
    answered 500 or 503 (error), 429 with ``Retry-After`` (rate_limit), 504 after
    ``slow_seconds`` (slow), or not at all (drop); one draw a request with
    ``random.Random(seed)`` picks at most one, so they add up to at most 1.
    """

    latency: float = 0.0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    slow_rate: float = 0.0
    slow_seconds: float = 5.0
    drop_rate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        rates = [rate for _, rate in self.rates]
        if not all(0.0 <= rate <= 1.0 for rate in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError("Fault rates must be between 0 and 1 and add up to at most 1.")
        if min(self.latency, self.slow_seconds, self.retry_after) < 0:
            raise ValueError("latency, slow_seconds and retry_after must not be negative.")

    @property
    def rates(self) -> tuple[tuple[str, float], ...]:
        return (
            ("drop", self.drop_rate),
            ("error", self.error_rate),
            ("rate_limit", self.rate_limit_rate),
            ("slow", self.slow_rate),
        )


@dataclass(frozen=True)
class Received:
    """One accepted trigger, as it arrived."""

    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]  # names lowercased
    idempotency_key: str | None


@dataclass(frozen=True)
class Rejected:
    """One request answered with a 4xx because it broke the contract."""

    status: int
    reason: str
    method: str
    path: str


@dataclass(frozen=True)
class InjectedFault:
    """One valid trigger request that got a fault instead of a 201 (status None: dropped)."""

    number: int
    kind: str  # "drop", "error", "rate_limit" or "slow"
    status: int | None


def parse_trigger(raw: bytes, *, strict: bool = False) -> dict[str, Any]:
    """Return the trigger in *raw*, or raise ContractViolation with the reason.

    *strict* also refuses an empty dict, which the reference Python client left out (the
    API and FocusLab's browser script did not mind them).
    """
    try:
        body = json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_not_json)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ContractViolation(f"the body is not UTF-8 JSON: {exc}") from None
    reason = contract_violation(body, strict=strict)
    if reason:
        raise ContractViolation(reason)
    return body  # type: ignore[no-any-return]


def contract_violation(body: object, *, strict: bool = False) -> str | None:
    """Return why *body* is not a trigger the FocusLab API accepts, or None."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    missing = [key for key in REQUIRED_KEYS if key not in body]
    if missing:
        return f"missing keys: {', '.join(missing)}"
    unknown = sorted(set(body) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        return f"unknown keys: {', '.join(unknown)}"
    for key in REQUIRED_KEYS:
        if not isinstance(body[key], str) or not body[key]:
            return f"{key} must be a non-empty string"
    for key in OPTIONAL_KEYS:
        reason = _mapping_violation(body[key], strict) if key in body else None
        if reason:
            return f"{key} {reason}"
    return None


def _mapping_violation(value: object, strict: bool) -> str | None:
    if not isinstance(value, dict):
        return "must be an object"
    if strict and not value:
        return "must be left out when empty (strict mode)"
    for name, item in value.items():
        if not _is_scalar(item) and not (
            isinstance(item, list) and all(_is_scalar(element) for element in item)
        ):
            return f"value of {name!r} must be a string, number, boolean, null or list of those"
    return None


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float))  # bool is an int


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of duplicate keys; a server might keep the first.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate keys in an object")
    return result


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def is_json_type(content_type: str) -> bool:
    """Whether *content_type* is application/json, with no charset other than UTF-8."""
    media_type, *params = content_type.split(";")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            return False
    return media_type.strip().lower() == "application/json"


class Receiver:
    """The FocusLab trigger API on a local port, served from a background thread.

    ``with Receiver(api_key="k") as receiver:`` delivers to ``receiver.url``. Without an
    api_key any non-empty X-FL-API-KEY is accepted; a missing one is always a 401.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        strict: bool = False,
        on_receive: Callable[[Received], None] | None = None,
    ) -> None:
        self.api_key = api_key
        self.host = host
        self.strict = strict
        self.on_receive = on_receive
        self._port = port
        self._changed = threading.Condition()
        self._received: list[Received] = []
        self._rejected: list[Rejected] = []
        self._faulted: list[InjectedFault] = []
        self.faults = faults or Faults()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        # The API key is a secret: never part of a repr.
        return f"<Receiver {self.host}:{self._port} received={self.count}>"

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Bind and serve; after a stop(), on the same port as before."""
        if self._server is not None:
            return
        self._stopping.clear()
        self._server = _Server((self.host, self._port), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() may wait for the loop
            name=f"focuslab-receiver-{self._port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and cut every open connection, as an outage would."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections(STOP_GRACE_SECONDS)
        server.server_close()
        thread.join()
        self._server = self._thread = None

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("The receiver has no port until it is started.")
        return self._port

    @property
    def url(self) -> str:
        """The endpoint to configure a client with, trailing slash included."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}{API_PATH}"

    @property
    def trigger_url(self) -> str:
        return self.url + "trigger/"

    @property
    def faults(self) -> Faults:
        with self._changed:
            return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        with self._changed:
            self._faults = faults
            self._random = random.Random(faults.seed)
            self._number = 0

    @property
    def received(self) -> list[Received]:
        with self._changed:
            return list(self._received)

    @property
    def count(self) -> int:
        with self._changed:
            return len(self._received)

    @property
    def rejected(self) -> list[Rejected]:
        with self._changed:
            return list(self._rejected)

    @property
    def faulted(self) -> list[InjectedFault]:
        with self._changed:
            return list(self._faulted)

    def idempotency_keys(self) -> list[str]:
        """The Idempotency-Key of each accepted trigger that had one, in arrival order."""
        return [item.idempotency_key for item in self.received if item.idempotency_key]

    def clear(self) -> None:
        """Forget what was received, rejected and faulted (the fault schedule goes on)."""
        with self._changed:
            self._received.clear()
            self._rejected.clear()
            self._faulted.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until *count* triggers have been accepted; False if *timeout* ran out."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._received) >= count, timeout)

    # The rest is for the request handler threads.

    def _pause(self, seconds: float) -> bool:
        """Sleep *seconds* unless stop() is called meanwhile; False if it was."""
        return seconds <= 0 or not self._stopping.wait(seconds)

    def _record(self, item: Received | Rejected | InjectedFault) -> None:
        with self._changed:
            if isinstance(item, Received):
                self._received.append(item)
                self._changed.notify_all()
            elif isinstance(item, Rejected):
                self._rejected.append(item)
            else:
                self._faulted.append(item)

    def _draw_fault(self) -> tuple[InjectedFault | None, Faults]:
        """Number this valid trigger request and decide whether it gets a fault."""
        with self._changed:
            self._number += 1
            faults, draw = self._faults, self._random.random()
            for kind, rate in faults.rates:
                if draw < rate:
                    statuses = FAULT_STATUSES[kind]
                    status = self._random.choice(statuses) if statuses else None
                    return InjectedFault(self._number, kind, status), faults
                draw -= rate
            return None, faults


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A flusher opens its BROCKMAN_CONCURRENCY connections at once; socketserver's
    # backlog of 5 would overflow at 32 and the kernel would reset some of them.
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], receiver: Receiver) -> None:
        self.receiver = receiver
        # Open connections, so that stop() can end keep-alive handlers blocked on a read.
        self._connections: set[socket.socket] = set()
        self._connections_changed = threading.Condition()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_changed:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self._connections_changed:
            self._connections.discard(request)
            self._connections_changed.notify_all()

    def close_connections(self, timeout: float) -> None:
        with self._connections_changed:
            for connection in self._connections:
                with contextlib.suppress(OSError):  # the client may have closed it already
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections_changed.wait_for(lambda: not self._connections, timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (one that timed out on a slow fault, say) is routine.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so that clients keep their connection alive, as they would with FocusLab.
    protocol_version = "HTTP/1.1"
    # A buffered wfile, flushed by http.server after each request, sends a response in one
    # write instead of two, and without Nagle's algorithm that write goes out at once.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: _Server
    fields: dict[str, str]  # the request's headers, names lowercased

    def handle_expect_100(self) -> bool:
        answer = super().handle_expect_100()
        self.wfile.flush()  # the client waits for the 100 before it sends the body
        return answer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the command line prints a line per trigger instead

    def handle_request(self) -> None:
        route = self.path.partition("?")[0]
        # One pass over the parsed headers; each Message.get() would scan them all again.
        self.fields = {name.lower(): value for name, value in self.headers.items()}
        raw = self._read_body(route)
        if raw is None:
            return
        if route in (PAGE_PATH, RECEIVED_PATH):
            self._inspect(route)
        elif self.server.receiver._pause(self.server.receiver.faults.latency):
            self._api(route, raw)
        else:
            self.close_connection = True  # stopping

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_request

    def _read_body(self, route: str) -> bytes | None:
        length = self.fields.get("content-length", "0")
        if "transfer-encoding" in self.fields or not length.isdigit():
            self._reject(411, route, "send the body with a Content-Length")
        elif int(length) > MAX_BODY_BYTES:
            self._reject(413, route, f"the body is over {MAX_BODY_BYTES} bytes")
        else:
            raw = self.rfile.read(int(length))
            if len(raw) == int(length):
                return raw
        self.close_connection = True  # what follows on this connection is unreadable
        return None

    def _api(self, route: str, raw: bytes) -> None:
        if route != TRIGGER_PATH:
            self._reject(404, route, "no such resource")
        elif self.command != "POST":
            self._reject(405, route, "use POST", allow="POST")
        elif not self._key_is_valid():
            # Never echo the key: the reason names the header only.
            self._reject(401, route, "wrong or missing X-FL-API-KEY")
        elif not is_json_type(self.fields.get("content-type", "")):
            self._reject(400, route, "Content-Type must be application/json")
        else:
            self._trigger(route, raw)

    def _key_is_valid(self) -> bool:
        key, expected = self.fields.get("x-fl-api-key"), self.server.receiver.api_key
        if not key:
            return False
        return expected is None or hmac.compare_digest(key.encode(), expected.encode())

    def _trigger(self, route: str, raw: bytes) -> None:
        receiver = self.server.receiver
        try:
            body = parse_trigger(raw, strict=receiver.strict)
        except ContractViolation as exc:
            self._reject(400, route, str(exc))
            return
        fault, faults = receiver._draw_fault()
        if fault is not None:
            receiver._record(fault)
            self._inject(fault, faults)
            return
        item = Received(body, raw, self.fields, self.fields.get("idempotency-key"))
        receiver._record(item)
        self._respond(201, b"{}", "application/json")
        if receiver.on_receive is not None:
            receiver.on_receive(item)

    def _inject(self, fault: InjectedFault, faults: Faults) -> None:
        if fault.kind == "slow" and not self.server.receiver._pause(faults.slow_seconds):
            self.close_connection = True  # stopping: do not linger
        elif fault.status is None:
            self.close_connection = True  # dropped: the socket closes with no answer
        else:
            headers = [("Retry-After", str(faults.retry_after))] if fault.status == 429 else []
            body = f"injected fault: {fault.kind}\n".encode()
            self._respond(fault.status, body, headers=headers)

    def _inspect(self, route: str) -> None:
        receiver = self.server.receiver
        if route == PAGE_PATH and self.command == "GET":
            self._respond(200, render_page(receiver).encode(), "text/html; charset=utf-8")
        elif route == RECEIVED_PATH and self.command == "GET":
            listing = [
                {"idempotency_key": item.idempotency_key, "body": item.body}
                for item in receiver.received
            ]
            self._respond(200, json.dumps(listing).encode(), "application/json")
        elif route == RECEIVED_PATH and self.command == "DELETE":
            receiver.clear()
            self._respond(204)
        else:
            allow = "GET, DELETE" if route == RECEIVED_PATH else "GET"
            self._respond(405, b"method not allowed\n", headers=[("Allow", allow)])

    def _reject(self, status: int, route: str, reason: str, *, allow: str = "") -> None:
        self.server.receiver._record(Rejected(status, reason, self.command, route))
        headers = [("Allow", allow)] if allow else []
        self._respond(status, f"{reason}\n".encode(), headers=headers)

    def _respond(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/plain; charset=utf-8",
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


def render_page(receiver: Receiver) -> str:
    """A small HTML page: the counts, the last rejections and triggers, newest first."""
    received, rejected = receiver.received, receiver.rejected
    triggers = "".join(
        f"<li><code>{html.escape(str(item.idempotency_key))}</code>"
        f"<pre>{html.escape(json.dumps(item.body, indent=2))}</pre></li>\n"
        for item in reversed(received[-PAGE_LIMIT:])
    )
    refusals = "".join(
        f"<li>{item.status} {html.escape(item.method)} <code>{html.escape(item.path)}</code>: "
        f"{html.escape(item.reason)}</li>\n"
        for item in reversed(rejected[-PAGE_LIMIT:])
    )
    faults = ", ".join(f"{name}={value}" for name, value in asdict(receiver.faults).items())
    mode = "strict (empty dicts refused)" if receiver.strict else "as the FocusLab API"
    return (
        "<!doctype html>\n<meta charset=utf-8>\n<title>FocusLab stand-in</title>\n"
        f"<h1>FocusLab stand-in</h1>\n<p>Set <code>BROCKMAN_ENDPOINT = "
        f'"{html.escape(receiver.url)}"</code>. Accepts {mode}; faults: {faults}.</p>\n'
        f"<p>{len(received)} triggers received, {len(rejected)} rejected, "
        f"{len(receiver.faulted)} faulted. "
        f'As JSON: <a href="{RECEIVED_PATH}">{RECEIVED_PATH}</a>.</p>\n'
        f"<h2>Rejected, last {PAGE_LIMIT}, newest first</h2>\n<ol>\n{refusals}</ol>\n"
        f"<h2>Received, last {PAGE_LIMIT}, newest first</h2>\n<ol>\n{triggers}</ol>\n"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m django_brockman.receiver",
        description="Run a local stand-in for the FocusLab trigger API until SIGINT or SIGTERM.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    add("--port", type=int, default=DEFAULT_PORT, help="default: %(default)s; 0 picks a free one")
    add(
        "--api-key",
        default=os.environ.get("BROCKMAN_API_KEY"),
        help="the X-FL-API-KEY to require (default: $BROCKMAN_API_KEY; unset: any key)",
    )
    add("--strict", action="store_true", help="also refuse empty dicts, as a client bug")
    add("--quiet", action="store_true", help="no line per trigger")
    faults = parser.add_argument_group("faults (rates are shares of triggers, 0 to 1)")
    faults.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    faults.add_argument("--error-rate", type=float, default=0.0, help="answer 500 or 503")
    faults.add_argument("--rate-limit-rate", type=float, default=0.0, help="answer 429")
    faults.add_argument("--retry-after", type=int, default=1, help="429's Retry-After seconds")
    faults.add_argument("--slow-rate", type=float, default=0.0, help="answer 504, late")
    faults.add_argument("--slow-seconds", type=float, default=5.0, help="how late")
    faults.add_argument("--drop-rate", type=float, default=0.0, help="close without answer")
    faults.add_argument("--seed", type=int, default=None, help="repeat one fault sequence")
    return parser


_print_lock = threading.Lock()


def _print_trigger(item: Received) -> None:
    body = item.body
    # repr() so that a trigger cannot put control characters (or lone surrogates, which
    # stdout cannot encode) on the terminal.
    line = f"{body['action']!r} {body['object']!r} actor={body['actor_id']!r}\n"
    with _print_lock:  # handler threads print concurrently; keep lines whole
        sys.stdout.write(line)
        sys.stdout.flush()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def receiver_from_args(argv: Sequence[str] | None = None) -> Receiver:
    """The Receiver the command line describes; exits with status 2 on a bad option."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        faults = Faults(**{field.name: getattr(args, field.name) for field in fields(Faults)})
    except ValueError as exc:
        parser.error(str(exc))
    return Receiver(
        api_key=args.api_key or None,
        host=args.host,
        port=args.port,
        faults=faults,
        strict=args.strict,
        on_receive=None if args.quiet else _print_trigger,
    )


def main(argv: Sequence[str] | None = None) -> int:
    receiver = receiver_from_args(argv)
    try:
        receiver.start()
    except OSError as exc:
        where = f"{receiver.host}:{receiver._port}"
        print(f"Cannot listen on {where}: {exc.strerror}", file=sys.stderr)
        return 1
    # Installed before the ready line, so a parent may signal as soon as it reads it;
    # SIGINT too, because a parent that started us in the background may ignore it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    try:
        # The first line is the ready signal a parent process waits for.
        print(f"FocusLab stand-in listening on {receiver.url}", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
    print(f"Stopped after {receiver.count} triggers.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
