"""Ledger: each trigger counted once per run by its last outcome, and the reasons grouped."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from django_brockman.exceptions import BadRequest, NetworkError, ServerError
from django_brockman.outcomes import Fate, Group, Ledger, Reason
from django_brockman.retry import Outcome, Verdict

URL = "http://127.0.0.1:9999/api/v1/trigger/"
NOW = datetime(2026, 12, 1, 22, 40, tzinfo=timezone.utc)
REFUSED = NetworkError(cause="connection refused", url=URL)
DOWN = ServerError(status=503, url=URL)


def retry(seconds: float) -> Outcome:
    return Outcome(Verdict.RETRY, retry_at=NOW + timedelta(seconds=seconds), error="...")


SENT = Outcome(Verdict.ACCEPTED)
BAD = Outcome(Verdict.GIVE_UP, error="HTTP 400")
SPENT = Outcome(Verdict.GIVE_UP, error="gave up", out_of_attempts=True)


def test_ledger_counts_a_trigger_once_by_its_last_outcome() -> None:
    ledger = Ledger()

    ledger.settle(1, REFUSED, retry(5))
    ledger.settle(2, REFUSED, retry(5))
    ledger.settle(1, DOWN, retry(9))  # came back within the run, failed again
    ledger.settle(2, None, SENT)  # came back and was delivered
    ledger.settle(3, None, None)  # released
    ledger.settle(3, REFUSED, retry(1))

    assert (ledger.sent, ledger.retried, ledger.failed, ledger.released) == (1, 2, 0, 0)
    assert ledger.groups() == [
        Group(Fate.RETRY, Reason("HTTP 503", URL), 1, NOW + timedelta(seconds=9)),
        Group(Fate.RETRY, Reason("connection refused", URL), 1, NOW + timedelta(seconds=1)),
    ]


def test_ledger_next_attempt_is_the_earliest_of_the_triggers_still_waiting() -> None:
    ledger = Ledger()
    for pk, seconds in [(1, 30), (2, 10), (3, 20)]:
        ledger.settle(pk, REFUSED, retry(seconds))

    ledger.settle(2, None, SENT)  # the earliest came back: no longer waiting

    (group,) = ledger.groups()
    assert (group.count, group.next_attempt) == (2, NOW + timedelta(seconds=20))


def test_ledger_groups_failures_apart_from_spent_attempts_larger_first() -> None:
    ledger = Ledger()
    bad = BadRequest(status=400, url=URL, body="object is required")
    ledger.settle(1, bad, BAD)
    ledger.settle(2, DOWN, SPENT)
    ledger.settle(3, DOWN, SPENT)
    ledger.settle(4, REFUSED, retry(1))

    assert [
        (g.fate, str(g.reason), g.reason.out_of_attempts, g.count) for g in ledger.groups()
    ] == [
        (Fate.RETRY, f"connection refused ({URL})", False, 1),
        (Fate.FAILED, f"HTTP 503 ({URL})", True, 2),
        (Fate.FAILED, f"HTTP 400 ({URL})", False, 1),
    ]


def test_ledger_counts_delivery_errors_not_refused_triggers() -> None:
    ledger = Ledger()

    ledger.settle(1, BadRequest(status=400, url=URL), BAD)
    assert (ledger.delivery_errors, ledger.latest_failure) == (0, None)

    ledger.settle(2, REFUSED, retry(1))
    ledger.settle(3, DOWN, SPENT)

    assert ledger.delivery_errors == 2
    assert ledger.latest_failure == Reason("HTTP 503", URL, out_of_attempts=True)


def test_ledger_reason_of_a_backends_bug_is_its_class_without_url() -> None:
    reason = Reason.of(RuntimeError("bug"), retry(1))

    assert (str(reason), reason.url) == ("RuntimeError", "")


def test_ledger_released_trigger_counts_until_it_comes_back() -> None:
    ledger = Ledger()

    ledger.settle(1, None, None)
    assert ledger.released == 1

    ledger.settle(1, None, SENT)
    assert (ledger.released, ledger.sent) == (0, 1)
    assert ledger.groups() == []


def test_ledger_counts_a_lost_result_as_lost_until_the_trigger_comes_back() -> None:
    ledger = Ledger()

    ledger.settle(1, None, SENT, lost=True)  # erased, or claimed anew, while in flight
    ledger.settle(2, DOWN, retry(5), lost=True)
    assert (ledger.sent, ledger.retried, ledger.lost) == (0, 0, 2)
    assert ledger.delivery_errors == 1  # the 503 still says delivery failed
    assert ledger.groups() == []

    ledger.settle(2, None, SENT)  # the other claim retried it; this run sent it
    assert (ledger.sent, ledger.lost) == (1, 1)
