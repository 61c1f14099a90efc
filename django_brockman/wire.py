"""Reading a server's answer as hostile data: a bounded prefix of the body under a deadline,
decoded without trusting its declared encodings, and the cause of a failed request in words.

No Django here: the client uses it, and so can anything that speaks HTTP with requests.
"""

from __future__ import annotations

import codecs
import errno
import http.client
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import requests
import urllib3.exceptions

# How much of a response body is read at most. An error keeps a 200-character excerpt;
# this leaves room for a multi-byte charset and a compressed body. Whatever follows is
# never read: the connection is closed instead, so a 50 MB error page costs 16 KB.
BODY_READ_LIMIT = 16 * 1024
# Reads are made in pieces no larger than this, so the deadline is checked between them.
READ_PIECE = 4096


def read_prefix(raw: Any, deadline: float, limit: int = BODY_READ_LIMIT) -> tuple[bytes, bool]:
    """Read up to *limit* bytes of a streamed body before *deadline* (time.monotonic()).

    Returns the bytes and whether they were the whole body. A body that is larger, slower
    than the deadline, or broken (truncated, badly chunked) is not complete; the caller
    then closes the connection rather than reuse it. Never raises for what the server
    sent. The bytes are as they came on the wire, not decompressed.
    """
    chunks: list[bytes] = []
    size = 0
    read = _reader(raw)
    sock = _socket_of(raw)
    try:
        while size < limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b"".join(chunks), False
            if sock is not None:
                # The socket's own timeout bounds one read; this bounds them all.
                sock.settimeout(min(remaining, sock.gettimeout() or remaining))
            chunk = read(min(READ_PIECE, limit - size))
            if not chunk:
                return b"".join(chunks), True
            chunks.append(chunk)
            size += len(chunk)
    except Exception:
        # A body that breaks off or is badly framed still leaves its status, which says
        # what happened; what was read of it is kept for the excerpt.
        return b"".join(chunks), False
    return b"".join(chunks), _at_end(raw)


def _reader(raw: Any) -> Callable[[int], bytes]:
    # read1() returns what one receive brings, so a server that trickles its body
    # cannot hold a read past the deadline; urllib3 before 2.3 has only read().
    read1 = getattr(raw, "read1", None)
    return read1 if read1 is not None else raw.read  # type: ignore[no-any-return]


def _at_end(raw: Any) -> bool:
    remaining = getattr(raw, "length_remaining", None)
    return remaining == 0


def _socket_of(raw: Any) -> socket.socket | None:
    connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def decode_body(data: bytes, content_encoding: str, content_type: str) -> str:
    """The text of a body prefix, whatever its declared compression and charset.

    gzip and deflate are inflated to at most BODY_READ_LIMIT bytes (a compressed bomb
    inflates no further); an encoding that cannot be undone is named instead of shown.
    """
    encodings = [part.strip().lower() for part in content_encoding.split(",") if part.strip()]
    for encoding in reversed(encodings):
        if encoding == "identity":
            continue
        if encoding not in ("gzip", "x-gzip", "deflate"):
            return f"[{len(data)} bytes of {content_encoding[:40]}-encoded content]"
        data = _inflate(data, encoding)
    return _text(data, _charset(content_type))


def _inflate(data: bytes, encoding: str) -> bytes:
    # 32 + MAX_WBITS takes gzip or zlib headers; deflate is sometimes sent raw.
    for wbits in (32 + zlib.MAX_WBITS,) if encoding != "deflate" else (zlib.MAX_WBITS, -15):
        try:
            return zlib.decompressobj(wbits).decompress(data, BODY_READ_LIMIT)
        except zlib.error:
            continue
    return data


def _charset(content_type: str) -> str:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'")
    return "utf-8"


def _text(data: bytes, charset: str) -> str:
    try:
        if not getattr(codecs.lookup(charset), "_is_text_encoding", True):
            raise LookupError(charset)
        return data.decode(charset, "replace")
    except Exception:
        # An unknown charset, or a codec that is not one (base64, idna's strictness).
        return data.decode("utf-8", "replace")


def format_seconds(seconds: float) -> str:
    return f"{seconds:g} s"


def network_cause(error: BaseException, timeout: float) -> str:
    """The root cause of a request that got no usable answer, in a few words.

    requests and urllib3 wrap the cause several layers deep
    (``HTTPConnectionPool(host=..., port=9999): Max retries exceeded ... Failed to
    establish a new connection: [Errno 111] Connection refused``); this finds it.
    """
    # Innermost first: the wrappers repeat the cause with their own noise around it.
    chain = list(_chain(error))[::-1]
    for matches, describe in _CAUSES:
        for link in chain:
            if matches(link):
                return describe(link, timeout)
    innermost = chain[0]
    return f"{type(innermost).__name__}: {_first_line(innermost)}"


def _chain(error: BaseException) -> Iterator[BaseException]:
    """*error* and every exception it wraps: causes, contexts, reasons, arguments."""
    seen: set[int] = set()
    pending = [error]
    while pending and len(seen) < 50:
        link = pending.pop(0)
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        context = None if link.__suppress_context__ else link.__context__
        wrapped = [getattr(link, "reason", None), link.__cause__, context]
        wrapped += list(link.args)
        pending += [item for item in wrapped if isinstance(item, BaseException)]


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:160] if text else ""


def _errno(*numbers: int) -> Callable[[BaseException], bool]:
    return lambda error: isinstance(error, OSError) and error.errno in numbers


def _is(*classes: type[BaseException]) -> Callable[[BaseException], bool]:
    return lambda error: isinstance(error, classes)


def _said(text: str) -> Callable[[BaseException, float], str]:
    return lambda error, timeout: text


def _said_with_detail(text: str) -> Callable[[BaseException, float], str]:
    return lambda error, timeout: f"{text} ({_first_line(error)[:100]})"


def _connect_timeout(error: BaseException) -> bool:
    # urllib3 makes a refused connection a kind of connect timeout; those are matched
    # earlier, so only a real timeout gets here.
    return isinstance(error, requests.ConnectTimeout) or (
        isinstance(error, urllib3.exceptions.ConnectTimeoutError)
        and not isinstance(error, urllib3.exceptions.NewConnectionError)
    )


_CAUSES: list[tuple[Callable[[BaseException], bool], Callable[[BaseException, float], str]]] = [
    # RemoteDisconnected is also a ConnectionResetError: the more precise words first.
    (_is(http.client.RemoteDisconnected), _said("connection closed without an answer")),
    (_is(ConnectionRefusedError), _said("connection refused")),
    (
        _is(socket.gaierror, urllib3.exceptions.NameResolutionError),
        _said("name not resolved"),
    ),
    (_is(ConnectionResetError), _said("connection reset")),
    (_is(BrokenPipeError, ConnectionAbortedError), _said("connection closed while sending")),
    (_errno(errno.ENETUNREACH), _said("network unreachable")),
    (_errno(errno.EHOSTUNREACH), _said("host unreachable")),
    (_is(ssl.SSLCertVerificationError), _said_with_detail("TLS certificate not accepted")),
    (
        _is(ssl.SSLError, urllib3.exceptions.SSLError, requests.exceptions.SSLError),
        _said_with_detail("TLS error"),
    ),
    (_connect_timeout, lambda error, t: f"connection timed out after {format_seconds(t)}"),
    (
        _is(requests.Timeout, urllib3.exceptions.ReadTimeoutError, TimeoutError),
        lambda error, t: f"timed out after {format_seconds(t)}",
    ),
    (_is(http.client.IncompleteRead), _said("answer cut off")),
    (
        _is(
            http.client.HTTPException,
            urllib3.exceptions.InvalidHeader,
            urllib3.exceptions.HeaderParsingError,
            requests.exceptions.InvalidHeader,
        ),
        _said_with_detail("malformed answer"),
    ),
    (_is(requests.exceptions.ProxyError), _said_with_detail("proxy error")),
]
