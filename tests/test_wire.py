"""wire: a bounded body prefix under a deadline, decoded without trusting the server."""

from __future__ import annotations

import gzip
import io
import time
import zlib

import pytest

from django_brockman.wire import BODY_READ_LIMIT, decode_body, read_prefix


class OldRaw:
    """A streamed body without read1(), as urllib3 before 2.3 gives."""

    def __init__(self, data: bytes, length_remaining: int | None = None) -> None:
        self.stream = io.BytesIO(data)
        self.length_remaining = length_remaining

    def read(self, amount: int) -> bytes:
        return self.stream.read(amount)


class BrokenRaw:
    def read1(self, amount: int) -> bytes:
        raise ValueError("invalid literal for int() with base 16: b'zz'")


def test_read_prefix_reads_a_small_body_to_its_end() -> None:
    assert read_prefix(OldRaw(b"hello"), time.monotonic() + 5) == (b"hello", True)


def test_read_prefix_stops_at_the_limit() -> None:
    data, complete = read_prefix(OldRaw(b"x" * (BODY_READ_LIMIT * 3)), time.monotonic() + 5)

    assert (len(data), complete) == (BODY_READ_LIMIT, False)


def test_read_prefix_of_exactly_the_limit_is_complete_when_nothing_remains() -> None:
    raw = OldRaw(b"x" * BODY_READ_LIMIT, length_remaining=0)

    assert read_prefix(raw, time.monotonic() + 5)[1] is True


def test_read_prefix_past_its_deadline_reads_nothing() -> None:
    assert read_prefix(OldRaw(b"late"), time.monotonic() - 1) == (b"", False)


def test_read_prefix_of_a_broken_body_is_incomplete() -> None:
    assert read_prefix(BrokenRaw(), time.monotonic() + 5) == (b"", False)


@pytest.mark.parametrize(
    ("data", "encoding", "text"),
    [
        (b"plain", "", "plain"),
        (b"plain", "identity", "plain"),
        (gzip.compress(b"zipped"), "gzip", "zipped"),
        (gzip.compress(b"zipped"), "x-gzip", "zipped"),
        (zlib.compress(b"deflated"), "deflate", "deflated"),
        (zlib.compress(b"raw deflate")[2:-4], "deflate", "raw deflate"),
        (gzip.compress(gzip.compress(b"twice")), "gzip, gzip", "twice"),
        (b"not compressed", "deflate", "not compressed"),
        (b"\x01\x02", "br", "[2 bytes of br-encoded content]"),
    ],
)
def test_decode_body_undoes_what_it_can(data: bytes, encoding: str, text: str) -> None:
    assert decode_body(data, encoding, "text/plain") == text


def test_decode_body_inflates_no_further_than_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (100 * BODY_READ_LIMIT))

    assert len(decode_body(bomb, "gzip", "")) == BODY_READ_LIMIT


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("text/plain; charset=latin-1", "café"),
        ('text/plain; charset="ISO-8859-1"', "café"),
        ("text/plain; charset=no-such-codec", "caf\ufffd"),
        ("text/plain; charset=base64", "caf\ufffd"),
        ("text/plain", "caf\ufffd"),
    ],
)
def test_decode_body_trusts_only_a_text_charset(content_type: str, text: str) -> None:
    assert decode_body(b"caf\xe9", "", content_type) == text
