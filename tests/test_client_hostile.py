"""Any answer from the server is data, never a crash: hostile responses from a real local
server, through the client and through a real flush()."""

from __future__ import annotations

import gzip
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from django_brockman.client import FocusLabClient
from django_brockman.engine import flush
from django_brockman.exceptions import FocusLabError
from django_brockman.models import Status, Trigger
from django_brockman.retry import RetryPolicy, Verdict
from tests.rawhttp import Answer, RawServer, response, scripted

KEY = "hostile-test-key-0123456789"
TIMEOUT = 1.0
# Every case ends well within this, whatever the server does.
CASE_SECONDS = 3 * TIMEOUT + 2


@dataclass(frozen=True)
class Case:
    """A hostile answer and what it must come to: sent, retry, failed or stop."""

    name: str
    answer: Answer
    verdict: str


MB = 1024 * 1024
GZIP_BOMB = gzip.compress(b"\0" * (64 * MB), compresslevel=9)


def status(status: str, *headers: tuple[str, str] | bytes, body: bytes = b"") -> Answer:
    """A well-framed answer with *status*, *headers* and *body*, on a connection that
    stays open for the next request."""
    return Answer(parts=(response(status, headers, body),), keep_open=True)


def raw(*parts: bytes | float, **kwargs: Any) -> Answer:
    return Answer(parts=parts, **kwargs)


def head(status: str, *headers: str) -> bytes:
    """A status line and headers, without the framing of a body."""
    return ("\r\n".join([f"HTTP/1.1 {status}", *headers]) + "\r\n\r\n").encode("latin-1")


CASES = [
    # Statuses from 100 to 999.
    Case(
        "100 continue then 201",
        raw(b"HTTP/1.1 100 Continue\r\n\r\n", response("201 Created"), keep_open=True),
        "sent",
    ),
    Case(
        "101 with no final answer", raw(head("101 Switching Protocols", "Upgrade: h2c")), "retry"
    ),
    Case(
        "103 early hints then 201 on the same bytes",
        raw(head("103 Early Hints", "Link: </x>"), response("201 Created")),
        "retry",
    ),
    Case("199", status("199 Odd"), "retry"),
    Case("200 instead of 201", status("200 OK", body=b"{}"), "retry"),
    Case(
        "201 with a body",
        status("201 Created", ("Content-Type", "application/json"), body=b'{"id": 1}'),
        "sent",
    ),
    Case("204 no content", raw(head("204 No Content"), keep_open=True), "retry"),
    Case("299", status("299 Odd"), "retry"),
    Case("301 elsewhere", status("301 Moved", ("Location", "https://elsewhere.test/x/")), "retry"),
    Case(
        "307 to an invalid IPv6 URL",
        status("307 Temporary Redirect", ("Location", "http://[::1")),
        "retry",
    ),
    Case(
        "308 to a relative garbage location",
        status("308 Permanent Redirect", ("Location", "//[bad")),
        "retry",
    ),
    Case(
        "302 with a location of 10,000 characters",
        status("302 Found", ("Location", "http://x/" + "a" * 10_000)),
        "retry",
    ),
    Case("400 bad request", status("400 Bad Request", body=b"object is required"), "failed"),
    Case("401 wrong key", status("401 Unauthorized"), "stop"),
    Case("418", status("418 I'm a teapot"), "failed"),
    Case(
        "429 with 20-digit retry-after", status("429 Too Many", ("Retry-After", "9" * 20)), "retry"
    ),
    Case("500 server error", status("500 Internal Server Error", body=b"boom"), "retry"),
    Case("599", status("599 Odd"), "retry"),
    Case("600", status("600 Beyond"), "retry"),
    Case("999", status("999 Last"), "retry"),
    # Retry-After, malformed and extreme.
    Case(
        "retry-after date with a 20-digit year",
        status("503 Busy", ("Retry-After", "Mon, 01 Jan 99999999999999999999 00:00:00 GMT")),
        "retry",
    ),
    Case(
        "retry-after in year 9999",
        status("503 Busy", ("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT")),
        "retry",
    ),
    Case(
        "retry-after in year 1 east of UTC",
        status("503 Busy", ("Retry-After", "Mon, 01 Jan 0001 00:00:00 +2359")),
        "retry",
    ),
    Case("retry-after negative", status("503 Busy", ("Retry-After", "-5")), "retry"),
    Case("retry-after fractional", status("503 Busy", ("Retry-After", "1.5")), "retry"),
    Case(
        "retry-after empty and repeated",
        status("503 Busy", ("Retry-After", ""), ("Retry-After", "7")),
        "retry",
    ),
    Case(
        "retry-after of latin-1 bytes",
        status("503 Busy", b"Retry-After: \xff\xfe\x80 \xe9"),
        "retry",
    ),
    Case("retry-after of 5,000 digits", status("503 Busy", ("Retry-After", "1" * 5000)), "retry"),
    # Content-Length.
    Case("content-length negative", raw(head("500 Error", "Content-Length: -1") + b"x"), "retry"),
    Case(
        "content-length not a number",
        raw(head("500 Error", "Content-Length: abc") + b"x"),
        "retry",
    ),
    Case(
        "content-length of 30 digits",
        raw(head("500 Error", "Content-Length: " + "9" * 30) + b"short"),
        "retry",
    ),
    Case(
        "content-length twice, unequal",
        raw(head("500 Error", "Content-Length: 3", "Content-Length: 4") + b"abcd"),
        "retry",
    ),
    Case(
        "content-length longer than the body",
        raw(head("500 Error", "Content-Length: 1000") + b"short"),
        "retry",
    ),
    Case(
        "201 with a body shorter than its length",
        raw(head("201 Created", "Content-Length: 1000") + b"short"),
        "sent",
    ),
    # Bodies: huge, endless, slow, truncated.
    Case("500 with a 50 MB body", status("500 Error", body=b"x" * (50 * MB)), "retry"),
    Case(
        "500 with an endless body",
        raw(head("500 Error", "Content-Length: 999999999999"), endless=b"x" * 65536),
        "retry",
    ),
    Case(
        "201 with an endless chunked body",
        raw(
            head("201 Created", "Transfer-Encoding: chunked"),
            endless=b"10000\r\n" + b"y" * 65536 + b"\r\n",
        ),
        "sent",
    ),
    Case(
        "500 with a body of one byte every 0.2 s",
        raw(head("500 Error", "Content-Length: 100000"), endless=b"z", interval=0.2),
        "retry",
    ),
    Case("500 with no length, closed after 5 bytes", raw(head("500 Error") + b"trunc"), "retry"),
    # Chunked encoding, invalid.
    Case(
        "chunk size not hex",
        raw(head("500 Error", "Transfer-Encoding: chunked") + b"zz\r\nabc\r\n0\r\n\r\n"),
        "retry",
    ),
    Case(
        "chunk cut short",
        raw(head("500 Error", "Transfer-Encoding: chunked") + b"100\r\nabc"),
        "retry",
    ),
    Case(
        "chunk size of 40 hex digits",
        raw(head("503 Busy", "Transfer-Encoding: chunked") + b"f" * 40 + b"\r\nabc"),
        "retry",
    ),
    Case(
        "201 chunked without the last chunk",
        raw(head("201 Created", "Transfer-Encoding: chunked") + b"3\r\nabc\r\n"),
        "sent",
    ),
    Case(
        "chunked and a content-length",
        raw(
            head("500 Error", "Transfer-Encoding: chunked", "Content-Length: 2")
            + b"3\r\nabc\r\n0\r\n\r\n"
        ),
        "retry",
    ),
    # Encodings.
    Case(
        "gzip that is not gzip",
        status("500 Error", ("Content-Encoding", "gzip"), body=b"not gzip at all"),
        "retry",
    ),
    Case(
        "a gzip bomb", status("500 Error", ("Content-Encoding", "gzip"), body=GZIP_BOMB), "retry"
    ),
    Case(
        "an unknown content encoding",
        status("502 Bad Gateway", ("Content-Encoding", "x-weird, br, zstd"), body=b"\x00\x01"),
        "retry",
    ),
    Case(
        "an unknown charset",
        status(
            "500 Error", ("Content-Type", "text/plain; charset=no-such-codec"), body=b"caf\xe9"
        ),
        "retry",
    ),
    Case(
        "a charset that is not a text encoding",
        status("500 Error", ("Content-Type", "text/plain; charset=base64"), body=b"!!!"),
        "retry",
    ),
    Case(
        "utf-16 with an odd byte",
        status(
            "500 Error", ("Content-Type", "text/plain; charset=utf-16"), body=b"\xff\xfea\x00b"
        ),
        "retry",
    ),
    # Status lines and headers that are not HTTP.
    Case("not HTTP at all", raw(b"SSH-2.0-OpenSSH_9.6\r\n"), "retry"),
    Case("a four-digit status", raw(b"HTTP/1.1 2010 Created\r\n\r\n"), "retry"),
    Case("a status that is not a number", raw(b"HTTP/1.1 abc Created\r\n\r\n"), "retry"),
    Case("closed without an answer", raw(), "retry"),
    Case("no answer until the timeout", raw(hold=TIMEOUT * 3), "retry"),
    Case(
        "a header line of 100,000 characters",
        raw(b"HTTP/1.1 201 Created\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"),
        "retry",
    ),
    Case(
        "200 headers",
        raw(head("201 Created", *[f"X-{n}: {n}" for n in range(200)], "Content-Length: 0")),
        "retry",
    ),
    Case(
        "a header without a colon",
        raw(head("500 Error", "this is not a header", "Content-Length: 0")),
        "retry",
    ),
    Case(
        "a hostile set-cookie",
        status(
            "500 Error",
            (
                "Set-Cookie",
                'a="; Expires=Mon, 01 Jan 99999999999999999999 00:00:00 GMT; Max-Age='
                + "9" * 40
                + "; Domain=[::1",
            ),
        ),
        "retry",
    ),
    Case("the key echoed back", status("500 Error", body=f"you sent {KEY}".encode()), "retry"),
]


@pytest.fixture
def server() -> Iterator[RawServer]:
    with RawServer() as raw:
        yield raw


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_client_turns_hostile_answer_into_result(server: RawServer, case: Case) -> None:
    server.script = scripted(case.answer)
    client = FocusLabClient(KEY, server.endpoint, timeout=TIMEOUT)
    started = time.monotonic()

    try:
        client.record_trigger("a1", "viewed", "page")
    except FocusLabError as exc:
        error: FocusLabError | None = exc
    else:
        error = None

    assert time.monotonic() - started < CASE_SECONDS
    assert (error is None) == (case.verdict == "sent")
    assert KEY not in str(error)
    assert KEY not in repr(error)
    # The client is still usable: the next request gets its own answer.
    client.record_trigger("a2", "viewed", "page")
    assert len(server.received) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_flush_carries_on_after_hostile_answer(server: RawServer, case: Case) -> None:
    server.script = scripted(case.answer)
    first = Trigger.objects.create(actor_id="a1", action="viewed", obj="page 1")
    second = Trigger.objects.create(actor_id="a2", action="viewed", obj="page 2")
    started = time.monotonic()

    with override_settings(
        BROCKMAN_ENDPOINT=server.endpoint, BROCKMAN_API_KEY=KEY, BROCKMAN_TIMEOUT=TIMEOUT
    ):
        result = flush(concurrency=1)

    assert time.monotonic() - started < CASE_SECONDS + 1
    first.refresh_from_db()
    second.refresh_from_db()
    expected = {
        "sent": (Status.SENT, 1),
        "retry": (Status.PENDING, 1),
        "failed": (Status.FAILED, 1),
        "stop": (Status.PENDING, 0),
    }[case.verdict]
    assert (first.status, first.attempts) == expected
    if case.verdict == "retry":
        assert first.last_error
        assert first.next_attempt_at <= timezone.now() + timedelta(days=1, minutes=1)
    if case.verdict == "stop":
        assert result.error
    else:
        # The run went on: the next trigger was sent.
        assert result.error is None
        assert second.status == Status.SENT
    assert KEY not in first.last_error


def test_client_keeps_one_connection_for_plain_answers(server: RawServer) -> None:
    client = FocusLabClient(KEY, server.endpoint, timeout=TIMEOUT)

    for number in range(5):
        client.record_trigger(f"a{number}", "viewed", "page")

    assert (len(server.received), server.connections) == (5, 1)


def test_client_keeps_the_connection_after_a_small_error(server: RawServer) -> None:
    server.script = scripted(status("503 Busy", body=b"later"))
    client = FocusLabClient(KEY, server.endpoint, timeout=TIMEOUT)

    with pytest.raises(FocusLabError):
        client.record_trigger("a1", "viewed", "page")
    client.record_trigger("a2", "viewed", "page")

    assert server.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        status("500 Error", body=b"x" * (1024 * 1024)),
        raw(head("500 Error", "Content-Length: 100000"), endless=b"z", interval=0.1),
        raw(head("103 Early Hints"), response("500 Error"), keep_open=True),
    ],
    ids=["a large body", "a slow body", "an interim answer"],
)
def test_client_drops_a_connection_it_did_not_read_to_the_end(
    server: RawServer, answer: Answer
) -> None:
    # Reused, it would hand the next request the rest of this answer.
    server.script = scripted(answer)
    client = FocusLabClient(KEY, server.endpoint, timeout=TIMEOUT)

    with pytest.raises(FocusLabError):
        client.record_trigger("a1", "viewed", "page")
    client.record_trigger("a2", "viewed", "page")

    assert [item.connection for item in server.received] == [1, 2]


def test_client_holds_a_small_bounded_part_of_a_huge_body(server: RawServer) -> None:
    server.script = scripted(status("500 Error", body=b"x" * (50 * MB)))
    client = FocusLabClient(KEY, server.endpoint, timeout=TIMEOUT)
    tracemalloc.start()
    try:
        with pytest.raises(FocusLabError) as caught:
            client.record_trigger("a1", "viewed", "page")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 1 * MB
    assert caught.value.body == "x" * 199 + "…"


def test_client_reads_an_endless_body_no_longer_than_its_timeout(server: RawServer) -> None:
    server.script = scripted(
        raw(head("500 Error", "Transfer-Encoding: chunked"), endless=b"1\r\nz\r\n", interval=0.05)
    )
    client = FocusLabClient(KEY, server.endpoint, timeout=0.5)
    started = time.monotonic()

    with pytest.raises(FocusLabError) as caught:
        client.record_trigger("a1", "viewed", "page")

    assert time.monotonic() - started < 1.0
    assert caught.value.status == 500
    assert caught.value.body.startswith("zzz")


HEADER_NAMES = [
    "Retry-After",
    "Location",
    "Content-Length",
    "Transfer-Encoding",
    "Content-Encoding",
    "Content-Type",
    "Set-Cookie",
    "Connection",
    "X-Other",
]
HEADER_VALUES = (
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=60)
    | st.sampled_from(["chunked", "gzip", "deflate", "close", "-1", "9" * 30, "http://[::1"])
    | st.integers(-5, 10**6).map(str)
)
ANSWERS = st.builds(
    lambda code, headers, body: (
        f"HTTP/1.1 {code} Whatever\r\n".encode()
        + b"".join(f"{name}: {value}\r\n".encode("latin-1") for name, value in headers)
        + b"\r\n"
        + body
    ),
    st.integers(100, 999),
    st.lists(st.tuples(st.sampled_from(HEADER_NAMES), HEADER_VALUES), max_size=6),
    st.binary(max_size=300),
)


@settings(max_examples=60, deadline=None)
@given(answer=ANSWERS)
def test_client_survives_any_generated_answer(answer: bytes) -> None:
    policy = RetryPolicy(base=1, cap=60, max_attempts=3)
    with RawServer(scripted(raw(answer))) as server:
        client = FocusLabClient(KEY, server.endpoint, timeout=0.5)
        started = time.monotonic()
        try:
            client.record_trigger("a1", "viewed", "page")
        except FocusLabError as exc:
            error: FocusLabError | None = exc
        else:
            error = None
        outcome = policy.decide(error, 1, timezone.now())

    assert time.monotonic() - started < 2.0
    assert outcome.verdict in set(Verdict)
    assert KEY not in outcome.error
