"""A local stand-in for the defunct FocusLab trigger API, with fault injection for tests."""

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from types import FrameType, TracebackType
from typing import Any, TypeAlias

API_PATH = "/api/v1/"
TRIGGER_PATH = API_PATH + "trigger/"
RECEIVED_PATH = "/_received/"
PAGE_PATH = "/"

REQUIRED_KEYS = ("actor_id", "action", "object")
OPTIONAL_KEYS = ("captured_identities", "captured_attributes", "variables")
ALLOWED_KEYS = frozenset(REQUIRED_KEYS + OPTIONAL_KEYS)
MAX_BODY_BYTES = 1024 * 1024
MAX_LINE_BYTES = 65536  # http.client's limits
MAX_HEADERS = 100

# What a ``Faults.script`` may return besides an HTTP status. Negative, so they can
# never be mistaken for a status.
DROP = -1  # close the connection without answering
SLOW = -2  # wait ``slow_seconds``, then answer 504

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
PAGE_LIMIT = 50
STOP_GRACE_SECONDS = 5.0

Script: TypeAlias = Callable[[int, dict[str, Any]], int | None]
Socket: TypeAlias = socket.socket | tuple[bytes, socket.socket]


class ContractViolation(ValueError):
    """A request the FocusLab API would answer with 400; the message is the reason."""


class HeadersTooLarge(ValueError):
    """A request whose headers exceed http.client's limits: a 431."""


@dataclass(frozen=True)
class Faults:
    """What the receiver does wrong, on purpose.

    The rates are shares of valid trigger requests, decided with ``random.Random(seed)``;
    they must add up to at most 1. ``script(request_number, body)`` is asked first and
    may force a status, ``DROP`` or ``SLOW``; ``None`` or 201 lets the request through.
    Request numbers start at 1 whenever a ``Faults`` is set.
    """

    latency: float = 0.0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    slow_rate: float = 0.0
    slow_seconds: float = 5.0
    drop_rate: float = 0.0
    seed: int | None = None
    script: Script | None = None

    def __post_init__(self) -> None:
        rates = (self.error_rate, self.rate_limit_rate, self.slow_rate, self.drop_rate)
        if not all(0.0 <= rate <= 1.0 for rate in rates):
            raise ValueError("Fault rates must be between 0 and 1.")
        # One draw per request picks at most one fault, so the rates share one unit.
        if sum(rates) > 1.0 + 1e-9:
            raise ValueError("Fault rates must add up to at most 1.")
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
    user_agent: str | None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Rejected:
    """One request answered with a 4xx because it broke the contract."""

    status: int
    reason: str
    method: str
    path: str


@dataclass(frozen=True)
class InjectedFault:
    """One valid trigger request that got a fault instead of a 201.

    ``kind`` is "drop", "error", "rate_limit", "slow" or "scripted"; ``status`` is None
    for a drop.
    """

    number: int
    kind: str
    status: int | None


def parse_trigger(raw: bytes) -> dict[str, Any]:
    """Return the trigger in *raw*, or raise ContractViolation with the reason."""
    try:
        body = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_not_json
        )
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ContractViolation(f"the body is not UTF-8 JSON: {exc}") from None
    reason = contract_violation(body)
    if reason:
        raise ContractViolation(reason)
    return body  # type: ignore[no-any-return]


def contract_violation(body: object) -> str | None:
    """Return why *body* is not a trigger the FocusLab API accepts, or None."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    missing = [key for key in REQUIRED_KEYS if key not in body]
    if missing:
        return f"missing keys: {', '.join(missing)}"
    unknown = sorted(set(body) - ALLOWED_KEYS)
    if unknown:
        return f"unknown keys: {', '.join(unknown)}"
    for key in REQUIRED_KEYS:
        if not isinstance(body[key], str) or not body[key]:
            return f"{key} must be a non-empty string"
    for key in OPTIONAL_KEYS:
        reason = _mapping_violation(body[key]) if key in body else None
        if reason:
            return f"{key} {reason}"
    return None


def _mapping_violation(value: object) -> str | None:
    if not isinstance(value, dict):
        return "must be an object"
    if not value:
        # The reference client leaves empty dicts out, so one on the wire is a client bug.
        return "must be left out when empty"
    for name, item in value.items():
        if not _is_scalar(item) and not (
            isinstance(item, list) and all(_is_scalar(element) for element in item)
        ):
            return f"value of {name!r} must be a string, number, boolean, null or list of those"
    return None


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float))  # bool is an int


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of duplicate keys; a server might keep the first, so a
    # client that sends duplicates has a bug worth a 400.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate keys in an object")
    return result


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_fields(rfile: BufferedIOBase) -> dict[str, str]:
    """Read header lines up to the blank one; names lowercased, repeats comma-joined."""
    fields: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = rfile.readline(MAX_LINE_BYTES + 1)
        if len(line) > MAX_LINE_BYTES:
            raise HeadersTooLarge("Header line too long")
        if line in (b"\r\n", b"\n", b""):
            return fields
        name, colon, value = line.decode("iso-8859-1").partition(":")
        if not colon or not name or name != name.strip():
            # Also refuses obsolete line folding, as RFC 9112 lets a server do.
            raise ValueError("Malformed header line")
        name, value = name.lower(), value.strip()
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    raise HeadersTooLarge("Too many headers")


def is_json_type(content_type: str) -> bool:
    """Whether *content_type* is application/json, with no charset other than UTF-8."""
    media_type, *params = content_type.split(";")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            return False
    return media_type.strip().lower() == JSON_TYPE


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
        on_receive: Callable[[Received], None] | None = None,
    ) -> None:
        self.api_key = api_key
        self.host = host
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
        """Stop serving, close every open connection, and wait for the handlers to end."""
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

    # The rest is for the request handler threads, not for tests.

    def _pause(self, seconds: float) -> bool:
        """Sleep *seconds* unless stop() is called meanwhile; False if it was."""
        return seconds <= 0 or not self._stopping.wait(seconds)

    def _record(self, item: Received) -> None:
        with self._changed:
            self._received.append(item)
            self._changed.notify_all()

    def _reject(self, item: Rejected) -> None:
        with self._changed:
            self._rejected.append(item)

    def _draw_fault(self, body: dict[str, Any]) -> tuple[InjectedFault | None, Faults]:
        """Number this valid trigger request and decide whether it gets a fault."""
        with self._changed:
            self._number += 1
            faults = self._faults
            fault = _scripted_fault(faults, self._number, body) or _random_fault(
                faults, self._random, self._number
            )
            if fault is not None:
                self._faulted.append(fault)
            return fault, faults


def _scripted_fault(faults: Faults, number: int, body: dict[str, Any]) -> InjectedFault | None:
    status = faults.script(number, body) if faults.script else None
    if status is None or status == 201:
        return None
    if status == DROP:
        return InjectedFault(number, "drop", None)
    if status == SLOW:
        return InjectedFault(number, "slow", 504)
    if not 200 <= status <= 599:
        raise ValueError(f"Faults.script returned {status!r}, not a status, DROP or SLOW.")
    return InjectedFault(number, "scripted", status)


def _random_fault(faults: Faults, rng: random.Random, number: int) -> InjectedFault | None:
    if not any(rate for _, rate in faults.rates):
        return None
    draw = rng.random()
    for kind, rate in faults.rates:
        if draw < rate:
            return InjectedFault(number, kind, _FAULT_STATUS[kind](rng))
        draw -= rate
    return None


_FAULT_STATUS: dict[str, Callable[[random.Random], int | None]] = {
    "drop": lambda rng: None,
    "error": lambda rng: rng.choice((500, 503)),
    "rate_limit": lambda rng: 429,
    "slow": lambda rng: 504,  # what a gateway says when its backend is too slow
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 overflows when a flusher's threads all connect
    # at once, and the kernel then resets some of those connections.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], receiver: Receiver) -> None:
        self.receiver = receiver
        # Open connections, so stop() can end keep-alive handlers blocked on a read.
        self._connections: set[Socket] = set()
        self._connections_changed = threading.Condition()
        super().__init__(address, _Handler)

    def process_request(self, request: Socket, client_address: Any) -> None:
        with self._connections_changed:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Socket) -> None:
        super().shutdown_request(request)
        with self._connections_changed:
            self._connections.discard(request)
            self._connections_changed.notify_all()

    def close_connections(self, timeout: float) -> None:
        with self._connections_changed:
            for request in self._connections:
                _shutdown_quietly(request)
            self._connections_changed.wait_for(lambda: not self._connections, timeout)

    def handle_error(self, request: Socket, client_address: Any) -> None:
        # A client that hangs up (one that timed out on a slow fault, say) is routine.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _shutdown_quietly(request: Socket) -> None:
    sock = request[1] if isinstance(request, tuple) else request
    with contextlib.suppress(OSError):  # the client may have closed it already
        sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so that clients keep their connection alive, as they would with FocusLab.
    protocol_version = "HTTP/1.1"
    # Each response is one write; without this, Nagle would delay the next one.
    disable_nagle_algorithm = True
    server: _Server
    raw_requestline: bytes  # set by handle_one_request(), untyped in typeshed
    fields: dict[str, str]  # the request headers, names lowercased
    route: str  # the path without the query string

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one stderr line per request would cost more than answering it

    def parse_request(self) -> bool:
        # http.server's own parse_request builds an email.message.Message from the
        # headers, which is a third of the cost of a request here; a dict is enough.
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.command, self.request_version = "", self.protocol_version  # for send_error
        self.close_connection = True
        words = self.requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
            self.send_error(400, "Bad request line")
            return False
        self.command, self.path, self.request_version = words
        try:
            self.fields = read_fields(self.rfile)
        except ValueError as exc:
            self.send_error(431 if isinstance(exc, HeadersTooLarge) else 400, str(exc))
            return False
        self.route = self.path.partition("?")[0]
        connection = self.fields.get("connection", "").lower()
        if self.request_version == "HTTP/1.1":
            self.close_connection = "close" in connection
        else:
            self.close_connection = "keep-alive" not in connection
        if self.fields.get("expect", "").lower() == "100-continue":
            return self.handle_expect_100()
        return True

    def handle_request(self) -> None:
        raw = self._read_body()
        if raw is None:
            return
        if self.route in (PAGE_PATH, RECEIVED_PATH):
            self._inspect(self.route)
        elif self.server.receiver._pause(self.server.receiver.faults.latency):
            self._api(raw)
        else:
            self.close_connection = True  # stopping

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_request

    def _read_body(self) -> bytes | None:
        if "transfer-encoding" in self.fields:
            self._reject(411, "send the body with a Content-Length", close=True)
            return None
        length = self.fields.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            status = 413 if length.isdigit() else 400
            self._reject(status, "bad Content-Length", close=True)
            return None
        raw = self.rfile.read(int(length)) if length != "0" else b""
        if len(raw) < int(length):
            self.close_connection = True  # the client hung up mid-body
            return None
        return raw

    def _api(self, raw: bytes) -> None:
        if self.route != TRIGGER_PATH:
            self._reject(404, "no such resource")
        elif self.command != "POST":
            self._reject(405, "use POST", headers=[("Allow", "POST")])
        elif not self._key_is_valid():
            # Never echo the key: the reason names the header only.
            self._reject(401, "wrong or missing X-FL-API-KEY")
        elif not is_json_type(self.fields.get("content-type", "")):
            self._reject(400, "Content-Type must be application/json")
        else:
            self._trigger(raw)

    def _key_is_valid(self) -> bool:
        key = self.fields.get("x-fl-api-key")
        expected = self.server.receiver.api_key
        if not key:
            return False
        return expected is None or hmac.compare_digest(key.encode(), expected.encode())

    def _trigger(self, raw: bytes) -> None:
        try:
            body = parse_trigger(raw)
        except ContractViolation as exc:
            self._reject(400, str(exc))
            return
        receiver = self.server.receiver
        fault, faults = receiver._draw_fault(body)
        if fault is not None:
            self._inject(fault, faults)
            return
        item = Received(
            body=body,
            raw=raw,
            headers=self.fields,
            idempotency_key=self.fields.get("idempotency-key"),
            user_agent=self.fields.get("user-agent"),
        )
        receiver._record(item)
        self._respond(201, b"{}", JSON_TYPE)
        if receiver.on_receive is not None:
            receiver.on_receive(item)

    def _inject(self, fault: InjectedFault, faults: Faults) -> None:
        if fault.kind == "slow" and not self.server.receiver._pause(faults.slow_seconds):
            fault = InjectedFault(fault.number, "drop", None)  # stopping: do not linger
        if fault.status is None:
            # No response at all: the handler ends and the socket is closed behind it.
            self.close_connection = True
            return
        headers = [("Retry-After", str(faults.retry_after))] if fault.status == 429 else []
        self._respond(fault.status, f"injected fault: {fault.kind}\n".encode(), headers=headers)

    def _inspect(self, path: str) -> None:
        receiver = self.server.receiver
        if path == PAGE_PATH and self.command == "GET":
            self._respond(200, render_page(receiver).encode(), HTML_TYPE)
        elif path == RECEIVED_PATH and self.command == "GET":
            listing = [
                {"idempotency_key": item.idempotency_key, "body": item.body}
                for item in receiver.received
            ]
            self._respond(200, json.dumps(listing).encode(), JSON_TYPE)
        elif path == RECEIVED_PATH and self.command == "DELETE":
            receiver.clear()
            self._respond(204)
        else:
            allow = "GET, DELETE" if path == RECEIVED_PATH else "GET"
            self._respond(405, b"method not allowed\n", headers=[("Allow", allow)])

    def _reject(
        self,
        status: int,
        reason: str,
        headers: Iterable[tuple[str, str]] = (),
        *,
        close: bool = False,
    ) -> None:
        self.server.receiver._reject(Rejected(status, reason, self.command, self.route))
        if close:
            self.close_connection = True
        self._respond(status, f"{reason}\n".encode(), headers=headers)

    def _respond(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = TEXT_TYPE,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        # Built by hand and sent in one write: send_response() would log, add a Date
        # and a Server header, and send the headers and the body in two segments.
        phrase = self.responses.get(status, ("",))[0]
        lines = [f"{self.protocol_version} {status} {phrase}"]
        if status != 204:
            lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + body)


def render_page(receiver: Receiver) -> str:
    """A small HTML page: the counts, and the last triggers, newest first."""
    received = receiver.received
    items = "\n".join(
        f"<li><code>{html.escape(str(item.idempotency_key))}</code> "
        f"<pre>{html.escape(json.dumps(item.body, indent=2))}</pre></li>"
        for item in reversed(received[-PAGE_LIMIT:])
    )
    return (
        "<!doctype html>\n<meta charset=utf-8>\n<title>FocusLab stand-in</title>\n"
        f"<h1>FocusLab stand-in at {html.escape(receiver.url)}</h1>\n"
        f"<p>{len(received)} triggers received, {len(receiver.rejected)} rejected, "
        f"{len(receiver.faulted)} faulted. "
        f'As JSON: <a href="{RECEIVED_PATH}">{RECEIVED_PATH}</a>. '
        f"Last {PAGE_LIMIT}, newest first:</p>\n<ol>\n{items}\n</ol>\n"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m django_brockman.receiver",
        description="Run a local stand-in for the FocusLab trigger API until SIGINT or SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("BROCKMAN_API_KEY"),
        help="the X-FL-API-KEY to require (default: $BROCKMAN_API_KEY; unset: any key)",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before answering")
    parser.add_argument("--quiet", action="store_true", help="no line per trigger")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.latency < 0:
        parser.error("--latency must not be negative")
    receiver = Receiver(
        api_key=args.api_key or None,
        host=args.host,
        port=args.port,
        faults=Faults(latency=args.latency),
        on_receive=None if args.quiet else _print_trigger,
    )
    try:
        receiver.start()
    except OSError as exc:
        print(f"Cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
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
