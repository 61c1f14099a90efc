"""A raw-socket HTTP server for tests: it writes exactly the bytes it is told to.

A real server (http.server, the stand-in receiver) cannot send a broken status line, a
truncated chunk or a body that never ends; this one can. It listens on 127.0.0.1 only,
answers each request with the next scripted Answer, and bounds everything it does in
time, so that a test that goes wrong cannot hang.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# No connection, pause or endless body outlives this, whatever a test asks for.
MAX_SECONDS = 30.0
CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"


@dataclass(frozen=True)
class Answer:
    """What the server does with one request.

    ``parts`` are written in order: bytes as they are, a float is a pause of that many
    seconds. Then ``endless`` (if set) is written again and again, every ``interval``
    seconds, until the client goes away or ``endless_seconds`` have passed. With
    ``keep_open`` the connection then stays open and serves the next request; otherwise
    it is closed (after ``hold`` seconds of silence, to play a server that hangs).
    """

    parts: Sequence[bytes | float] = (CREATED,)
    endless: bytes = b""
    interval: float = 0.0
    endless_seconds: float = MAX_SECONDS
    keep_open: bool = False
    hold: float = 0.0


def response(
    status: str,
    headers: Sequence[tuple[str, str]] | Sequence[bytes] = (),
    body: bytes = b"",
    *,
    length: bool = True,
) -> bytes:
    """One response's bytes: ``status`` is the status line after ``HTTP/1.1 ``."""
    lines = [f"HTTP/1.1 {status}".encode("latin-1")]
    for header in headers:
        if isinstance(header, bytes):
            lines.append(header)
        else:
            lines.append(f"{header[0]}: {header[1]}".encode("latin-1"))
    if length:
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@dataclass
class Received:
    """One request as it arrived: its head and body, and the connection it came on."""

    head: bytes
    body: bytes
    connection: int

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode("latin-1")
        return None


@dataclass
class RawServer:
    """Serve ``script(n)`` for the n-th request (0-based); a plain 201 when it says None."""

    script: Callable[[int], Answer | None] = lambda number: None
    # Written as soon as a connection opens, before any request: a server that
    # speaks first, or another protocol.
    greeting: bytes = b""
    received: list[Received] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/"

    @property
    def trigger_url(self) -> str:
        return self.endpoint + "trigger/"

    def __enter__(self) -> RawServer:
        self.start(self.accept_loop)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        for thread in list(self.threads):
            thread.join(timeout=MAX_SECONDS)
        self.listener.close()

    def start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self.lock:
            self.threads.append(thread)
        thread.start()

    def accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with self.lock:
                self.connections += 1
                number = self.connections
            self.start(self.serve, conn, number)

    def serve(self, conn: socket.socket, number: int) -> None:
        conn.settimeout(0.2)
        buffer = b""
        with conn:
            deadline = time.monotonic() + MAX_SECONDS
            if self.greeting and not self.answer(conn, Answer(parts=(self.greeting,))):
                return
            while not self.stopping.is_set() and time.monotonic() < deadline:
                request, buffer = self.read_request(conn, buffer, deadline)
                if request is None:
                    return
                with self.lock:
                    self.received.append(Received(*request, connection=number))
                    index = len(self.received) - 1
                answer = self.script(index) or Answer(keep_open=True)
                if not self.answer(conn, answer) or not answer.keep_open:
                    self.pause(answer.hold)
                    return

    def read_request(
        self, conn: socket.socket, buffer: bytes, deadline: float
    ) -> tuple[tuple[bytes, bytes] | None, bytes]:
        while b"\r\n\r\n" not in buffer:
            chunk = self.recv(conn, deadline)
            if not chunk:
                return None, buffer
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            chunk = self.recv(conn, deadline)
            if not chunk:
                return None, b""
            rest += chunk
        return (head, rest[:length]), rest[length:]

    def recv(self, conn: socket.socket, deadline: float) -> bytes:
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                return conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return b""
        return b""

    def answer(self, conn: socket.socket, answer: Answer) -> bool:
        """Write *answer*; False when the client went away first."""
        # A client that reads slowly (a loaded machine) is waited for; one that went
        # away fails the write at once.
        conn.settimeout(MAX_SECONDS)
        try:
            for part in answer.parts:
                if isinstance(part, bytes):
                    conn.sendall(part)
                else:
                    self.pause(part)
            if answer.endless:
                until = time.monotonic() + min(answer.endless_seconds, MAX_SECONDS)
                while time.monotonic() < until and not self.stopping.is_set():
                    conn.sendall(answer.endless)
                    self.pause(answer.interval)
        except OSError:
            return False
        finally:
            conn.settimeout(0.2)
        return True

    def pause(self, seconds: float) -> None:
        self.stopping.wait(min(seconds, MAX_SECONDS))


def scripted(*answers: Answer | None) -> Callable[[int], Answer | None]:
    """A script that gives *answers* in turn, then a plain 201 for every later request."""

    def script(number: int) -> Answer | None:
        return answers[number] if number < len(answers) else None

    return script
