"""What a flush run did to each trigger, counted once per trigger (its last outcome in the
run wins), and why triggers wait or failed, grouped by cause and URL."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django_brockman.exceptions import FocusLabError, cause_of
from django_brockman.retry import Outcome, Verdict

if TYPE_CHECKING:
    from django_brockman.flushing import Judged


class Fate(enum.Enum):
    """Where a trigger stands at the end of a run, in the summary's words."""

    SENT = "sent"
    RETRY = "to retry"
    FAILED = "failed"


@dataclass(frozen=True)
class Reason:
    """Why triggers wait for a retry or failed: the cause in words (``connection refused``,
    ``HTTP 503``) and the URL tried. The API key travels in a header, never in either."""

    cause: str
    url: str = ""
    # Failed because the last attempt was spent, not because FocusLab refused the trigger.
    out_of_attempts: bool = False

    @classmethod
    def of(cls, error: BaseException | None, outcome: Outcome) -> Reason:
        # Only an attempt that raised is retried or given up on.
        assert error is not None
        url = error.url if isinstance(error, FocusLabError) else ""
        return cls(cause_of(error), url, outcome.out_of_attempts)

    def __str__(self) -> str:
        return f"{self.cause} ({self.url})" if self.url else self.cause


@dataclass(frozen=True)
class Group:
    """The triggers that ended a run with one fate for one reason."""

    fate: Fate
    reason: Reason
    count: int
    # For triggers to retry: when the first of them is due again.
    next_attempt: datetime | None = None


# A trigger to retry: why, and when it is due again. None: released unattempted.
# LOST: its result was not written (the row had passed to another claim, or was erased).
Waiting = tuple[Reason, datetime] | str | None
LOST = "lost"
_ABSENT = object()


class Ledger:
    """Each trigger's last outcome in one run, by primary key.

    A sent or failed trigger is not due again within the run, so it is only counted; a
    trigger to retry, released or whose result was lost is kept (for a retry, its reason
    and due time) until it comes back or the run ends. Memory follows the triggers left
    waiting, not the triggers sent.
    """

    def __init__(self) -> None:
        self.sent = 0
        self.released = 0
        self.lost = 0
        self.retrying: Counter[Reason] = Counter()
        self.failing: Counter[Reason] = Counter()
        self.waiting: dict[int, Waiting] = {}
        self.reasons: dict[Reason, Reason] = {}
        # Attempts that went wrong for want of delivery (no answer, 408, 429, 5xx): these,
        # not a trigger FocusLab refused, make a run that sent nothing an outage.
        self.delivery_errors = 0
        self.latest_failure: Reason | None = None

    @property
    def retried(self) -> int:
        return sum(self.retrying.values())

    @property
    def failed(self) -> int:
        return sum(self.failing.values())

    def record(self, judged: Iterable[Judged], unwritten: Collection[int] = ()) -> None:
        """Note a write-back's results; *unwritten*: the triggers whose result was lost."""
        for attempt, outcome in judged:
            pk = attempt.trigger.pk
            self.settle(pk, attempt.error, outcome, lost=pk in unwritten)

    def settle(
        self,
        pk: int,
        error: BaseException | None,
        outcome: Outcome | None,
        *,
        lost: bool = False,
    ) -> None:
        """Note trigger *pk*'s latest outcome (None: released), replacing an earlier one.
        A *lost* result counts as lost, whatever it was; why it failed still counts
        towards the delivery errors."""
        self.forget(pk)
        if outcome is not None and outcome.verdict is not Verdict.ACCEPTED:
            self.note_failure(error, outcome)
        if lost:
            self.waiting[pk] = LOST
            self.lost += 1
        elif outcome is None:
            self.waiting[pk] = None
            self.released += 1
        elif outcome.verdict is Verdict.ACCEPTED:
            self.sent += 1
        elif outcome.verdict is Verdict.RETRY:
            assert outcome.retry_at is not None
            reason = self.reason(error, outcome)
            self.waiting[pk] = (reason, outcome.retry_at)
            self.retrying[reason] += 1
        else:
            self.failing[self.reason(error, outcome)] += 1

    def reason(self, error: BaseException | None, outcome: Outcome) -> Reason:
        # One Reason object per reason, however many triggers wait for it.
        reason = Reason.of(error, outcome)
        return self.reasons.setdefault(reason, reason)

    def note_failure(self, error: BaseException | None, outcome: Outcome) -> None:
        if outcome.verdict is Verdict.RETRY or outcome.out_of_attempts:
            self.delivery_errors += 1
            self.latest_failure = self.reason(error, outcome)

    def forget(self, pk: int) -> None:
        earlier = self.waiting.pop(pk, _ABSENT)
        if earlier is None:
            self.released -= 1
        elif earlier == LOST:
            self.lost -= 1
        elif isinstance(earlier, tuple):
            self.retrying[earlier[0]] -= 1

    def groups(self) -> list[Group]:
        """One group per fate and reason: those to retry first, larger groups first."""
        due: dict[Reason, datetime] = {}
        for waiting in self.waiting.values():
            if isinstance(waiting, tuple):
                reason, when = waiting
                if reason not in due or when < due[reason]:
                    due[reason] = when
        retry = [Group(Fate.RETRY, r, n, due[r]) for r, n in self.retrying.items() if n]
        failed = [Group(Fate.FAILED, r, n) for r, n in self.failing.items() if n]
        return sorted(retry, key=_order) + sorted(failed, key=_order)


def _order(group: Group) -> tuple[int, str, str]:
    return (-group.count, group.reason.cause, group.reason.url)
